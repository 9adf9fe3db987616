"""Twilio Programmable Messaging: SMS sends, status callbacks, message lookup, opt-outs.

Public pieces:

- :class:`connectors.twilio.destination.TwilioDestination` (``from_options``): send
  mode, StatusCallback attribution, 21610 -> SUPPRESSED, quiet hours by recipient
  time zone, ``reconcile`` and ``fetch``; no credentials -> the local sandbox.
- :class:`connectors.twilio.engagement.TwilioWebhookReceiver`: WSGI app for status
  callbacks (``*/status``) and inbound opt-out/opt-in replies (``*/inbound``); its
  ``public_url`` (the URL Twilio signed) is required.
- :func:`connectors.twilio.engagement.pull_messages`: the Messages list ->
  ``raw.twilio_message_status`` / ``raw.twilio_opt_outs`` with a cursor.
- :class:`connectors.twilio.sandbox.TwilioSandbox`: the local Twilio (``advance``,
  ``reply``, ``state``); :func:`connectors.twilio.sandbox.local_sandbox`.
- :mod:`connectors.twilio.signature`: ``X-Twilio-Signature`` through the ``twilio``
  package's ``RequestValidator``.
- :mod:`connectors.twilio.opt_out`: Twilio's opt-out/opt-in keywords and
  Advanced Opt-Out's ``OptOutType``.
"""
