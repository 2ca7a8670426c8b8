-- Content-addressed adapters: the SHA-256 digest of an adapter's files (AdapterManifest: the SHA-256 of the lines
-- "{sha256} {size} {path}", ordered by path) and the files themselves, recorded when it is registered. Whatever tier
-- a worker gets the bytes from, it serves them only once they match. Null for adapters registered before this
-- migration until they are registered again.
ALTER TABLE adapters
    ADD COLUMN digest text CHECK (digest ~ '^[0-9a-f]{64}$'),
    ADD COLUMN files json; -- [{"path", "size", "sha256"}]
CREATE INDEX adapters_digest_idx ON adapters (digest) WHERE digest IS NOT NULL;
