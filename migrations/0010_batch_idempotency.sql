-- Idempotent batches (docs/gateway.md): an Idempotency-Key now names either a job or a batch. A batch's jobs have ids
-- derived from (batch id, custom_id), so a retry of an interrupted submission finds what was sent and sends the rest.
ALTER TABLE idempotency_keys
    ALTER COLUMN job_id DROP NOT NULL,
    ADD COLUMN batch_id uuid,
    ADD CONSTRAINT idempotency_keys_one_subject CHECK ((job_id IS NULL) <> (batch_id IS NULL));

-- sealed_at: when the submission that created the batch finished queueing its lines (null: it was interrupted, or the
-- batch is older than this column). answer: the JSON it gave (202 body), kept for batches submitted with a key so a
-- retry gets the same answer.
ALTER TABLE batches
    ADD COLUMN sealed_at timestamptz,
    ADD COLUMN answer json;
