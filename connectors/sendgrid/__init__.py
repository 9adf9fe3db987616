"""SendGrid: marketing contacts and lists, transactional sends, event webhook, suppressions.

Public pieces:

- :class:`connectors.sendgrid.destination.SendGridDestination` (``from_options``):
  upsert/mirror/insert into a list, delete (erasure), send (Mail Send) and
  ``reconcile`` for in-doubt sends; no credentials -> the local sandbox. An import
  job whose errors file cannot be read returns its records RETRYABLE with the reason.
- :class:`connectors.sendgrid.engagement.SendGridEventReceiver`: WSGI app for the
  signed event webhook -> ``raw.sendgrid_events``.
- :func:`connectors.sendgrid.engagement.pull_suppressions`: suppression lists ->
  ``raw.sendgrid_suppressions`` with ``start_time`` cursors.
- :class:`connectors.sendgrid.sandbox.SendGridSandbox`: the local SendGrid
  (``generate_engagement``, ``deliver``, ``suppress``, ``state``, ``public_key``);
  :func:`connectors.sendgrid.sandbox.local_sandbox` is the process-wide one.
- :mod:`connectors.sendgrid.transport`: the official client's HTTP through
  Ferry's retry layer, and the send pacer.
"""
