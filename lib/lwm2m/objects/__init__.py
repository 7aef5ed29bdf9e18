"""The LwM2M objects a client exposes: one small module per object, each a
`lwm2m.model.LwObject` subclass; drivers and board facts are passed in."""
