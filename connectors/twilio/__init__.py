"""Twilio Programmable Messaging: SMS sends, status callbacks, message lookup, opt-outs."""
