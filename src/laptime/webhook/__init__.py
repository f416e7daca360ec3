"""Run webhooks: when a run ends, its report JSON is POSTed, signed, to a configured URL.

``settings`` reads and checks ``[webhook]``; ``signing`` makes and checks the signature;
``payload`` builds what is sent (the report JSON, from the analysis); ``delivery`` sends
it with retries; ``dispatch`` does that off the measured program's path and records each
delivery as an event; ``redeliver`` sends failed deliveries again.
"""
