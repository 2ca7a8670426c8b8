-- Tracing (docs/tracing.md): the W3C trace a job ran in, and the span a webhook delivery's attempts hang under.
-- Both null when tracing was off. The trace id is the one first recorded (the gateway's request, or the worker's
-- consume for jobs published straight to RabbitMQ); a later event never replaces it.
ALTER TABLE jobs ADD COLUMN trace_id text CHECK (trace_id ~ '^[0-9a-f]{32}$');
-- A W3C traceparent (00-<trace id>-<span id>-<flags>) of the consume that created the delivery.
ALTER TABLE webhook_deliveries ADD COLUMN trace_parent text;
