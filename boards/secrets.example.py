# Wi-Fi credentials for a board. Copy to boards/secrets.py (or
# boards/<board>/secrets.py, or pass --secrets FILE to tools/deploy.py), fill in,
# and never commit it: .gitignore lists secrets.py. Deploy copies it to /secrets.py.
WIFI_SSID = "my-network"
WIFI_PASSWORD = "my-password"

# Or several networks, tried in turn on each attempt (this wins over the two above):
# WIFI_NETWORKS = [("home", "password-1"), ("lab", "password-2")]
