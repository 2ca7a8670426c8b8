-- Placement history: one row per placement the scheduler published. Epochs come from a Redis counter that only
-- grows, so the latest placement is the one with the largest epoch.
CREATE TABLE placements (
    epoch       bigint PRIMARY KEY,
    policy      text NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    inputs      jsonb NOT NULL,   -- {"workers", "adapters", "total_demand_tps"}
    plan        jsonb NOT NULL,   -- PlacementPlan, snake_case as `loraqueue placement plan --json` prints it
    moves       jsonb             -- PlacementMoves against the previous placement; null for the first
);

CREATE INDEX placements_created_at_idx ON placements (created_at);
