"""Copy trading: mirror the master account's fills onto user accounts."""
