-- Tenants own jobs, batches and adapters. API keys are stored only as SHA-256 hashes; webhook signing
-- secrets must stay readable (HMAC needs them), and two may be valid at once while a secret rotates.
CREATE TABLE tenants (
    id                       text PRIMARY KEY,
    name                     text NOT NULL,
    webhook_secret           text NOT NULL,          -- 'whsec_' + base64(32 random bytes): signs every delivery
    webhook_secret_previous  text,                   -- the secret before the last rotation: still signs until cleared
    max_body_bytes           integer NOT NULL DEFAULT 4194304 CHECK (max_body_bytes > 0),
    max_batch_lines          integer NOT NULL DEFAULT 10000 CHECK (max_batch_lines > 0),
    requests_per_minute      integer NOT NULL DEFAULT 600 CHECK (requests_per_minute > 0),
    created_at               timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_hash    bytea PRIMARY KEY,                   -- SHA-256 of the whole key
    key_prefix  text NOT NULL,                       -- its first characters, to tell keys apart in listings
    tenant      text NOT NULL REFERENCES tenants (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant);

-- A batch: many jobs submitted in one JSONL body. completed_at is set once every accepted job is terminal.
CREATE TABLE batches (
    batch_id      uuid PRIMARY KEY,
    tenant        text NOT NULL,
    webhook_url   text,
    total_lines   integer NOT NULL CHECK (total_lines >= 0),
    accepted      integer NOT NULL CHECK (accepted >= 0),
    rejected      integer NOT NULL CHECK (rejected >= 0),
    metadata      jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz
);
CREATE INDEX batches_tenant_idx ON batches (tenant, created_at DESC);
CREATE INDEX batches_open_idx ON batches (created_at) WHERE completed_at IS NULL;

ALTER TABLE jobs ADD COLUMN batch_id uuid, ADD COLUMN custom_id text;
CREATE INDEX jobs_batch_submitted_idx ON jobs (batch_id, submitted_at DESC, job_id DESC) WHERE batch_id IS NOT NULL;

-- Idempotency-Key → the job it created, per tenant; the request hash tells a retry from a different request.
CREATE TABLE idempotency_keys (
    tenant        text NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    job_id        uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, key)
);
