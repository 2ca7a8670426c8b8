-- How a job's adapter became usable (JobCompleted.AdapterLoad): where its bytes were when the job needed them
-- (active: loaded in the engine already; host: the worker's host cache; peer: pulled from another worker; store: read
-- from the adapter store) and how long the job waited for them. Null for base-model jobs, jobs not completed, and jobs
-- completed by a worker that does not report it. The source is stored as the worker sent it, with no CHECK: a value
-- added by a newer worker must not make the database refuse the job's completion.
ALTER TABLE jobs
    ADD COLUMN adapter_source text,
    ADD COLUMN adapter_load_ms double precision;
