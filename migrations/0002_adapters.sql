-- Adapter registry: one row per adapter id (its directory name in the adapter store), validated
-- against the base model when registered; re-registering the same id updates the row.
CREATE TABLE adapters (
    id            text PRIMARY KEY,
    tenant        text NOT NULL,
    path          text NOT NULL,
    base_model    text NOT NULL,
    max_rank      integer NOT NULL CHECK (max_rank > 0),
    rank_bucket   integer NOT NULL CHECK (rank_bucket >= max_rank),
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    module_count  integer NOT NULL CHECK (module_count > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX adapters_tenant_idx ON adapters (tenant, id);
