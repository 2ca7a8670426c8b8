-- Job history: one row per job, upserted by job id as its events arrive (at least once, in any order).
-- status_rank orders progress (queued 0 < running 1 < completed|failed 2); writers only ever raise it.
CREATE TABLE jobs (
    job_id         uuid PRIMARY KEY,
    tenant         text NOT NULL,
    adapter_id     text,                       -- null: the base model
    rank_bucket    integer,
    status         text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    status_rank    smallint NOT NULL,
    prompt         text,
    output_text    text,
    prompt_tokens  integer,
    output_tokens  integer,
    finish_reason  text,                       -- eos | stop | length | cancelled
    error_code     text,                       -- a FailureReasons code when failed
    error_message  text,
    worker         text,
    webhook_url    text,
    metadata       jsonb,
    submitted_at   timestamptz NOT NULL,
    started_at     timestamptz,
    completed_at   timestamptz,                -- when it completed or failed
    queue_ms       double precision,
    wait_ms        double precision,
    ttft_ms        double precision,
    tpot_ms        double precision,
    total_ms       double precision,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jobs_status_rank_matches_status
        CHECK (status_rank = CASE status WHEN 'queued' THEN 0 WHEN 'running' THEN 1 ELSE 2 END)
);

-- History queries list newest first with keyset pagination on (submitted_at, job_id); each filter a
-- user runs has an index that yields rows in that order, so a page reads only its own rows.
CREATE INDEX jobs_submitted_idx ON jobs (submitted_at DESC, job_id DESC);
CREATE INDEX jobs_tenant_submitted_idx ON jobs (tenant, submitted_at DESC, job_id DESC);
CREATE INDEX jobs_tenant_status_submitted_idx ON jobs (tenant, status, submitted_at DESC, job_id DESC);
CREATE INDEX jobs_adapter_submitted_idx ON jobs (adapter_id, submitted_at DESC, job_id DESC) WHERE adapter_id IS NOT NULL;
CREATE INDEX jobs_status_submitted_idx ON jobs (status, submitted_at DESC, job_id DESC);
