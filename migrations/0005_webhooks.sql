-- Webhook deliveries (src/LoRAQueue.Webhooks): one row per event to send, one attempts row per HTTP try.
-- The body is fixed when the delivery is created, so every retry and replay sends the same bytes; the
-- signature (which covers the attempt's timestamp) is computed at send time with the tenant's current secrets.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,                 -- the webhook-id header: stable across retries
    tenant           text NOT NULL,
    event_type       text NOT NULL CHECK (event_type IN ('job.completed', 'job.failed', 'batch.completed')),
    job_id           uuid,                             -- set for job events
    batch_id         uuid,                             -- set for batch events, and for job events of a batch job
    url              text NOT NULL,
    body             text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempt_count    integer NOT NULL DEFAULT 0,       -- every attempt ever made (attempts are never deleted)
    round_attempts   integer NOT NULL DEFAULT 0,       -- attempts since creation or the last replay: indexes the retry schedule
    created_at       timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz,                      -- pending only; a claim pushes it out by a lease
    delivered_at     timestamptz,
    CONSTRAINT webhook_deliveries_subject CHECK (job_id IS NOT NULL OR batch_id IS NOT NULL),
    CONSTRAINT webhook_deliveries_due CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);

-- A redelivered event finds its delivery already there (INSERT … ON CONFLICT DO NOTHING).
CREATE UNIQUE INDEX webhook_deliveries_job_event_idx ON webhook_deliveries (job_id, event_type) WHERE job_id IS NOT NULL;
CREATE UNIQUE INDEX webhook_deliveries_batch_event_idx ON webhook_deliveries (batch_id, event_type) WHERE job_id IS NULL;
-- The dispatcher claims the earliest due pending deliveries.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_tenant_idx ON webhook_deliveries (tenant, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id   uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    number        integer NOT NULL CHECK (number > 0), -- 1, 2, … across replays
    attempted_at  timestamptz NOT NULL,
    status_code   integer,                            -- null when no response came (timeout, refused, …)
    latency_ms    double precision NOT NULL,
    error         text,                               -- null on a 2xx
    PRIMARY KEY (delivery_id, number)
);
