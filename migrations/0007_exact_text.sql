-- Store exactly what a job said and what the model produced. A Postgres text column cannot hold U+0000, which a
-- prompt may contain and a model emits (the byte-fallback token <0x00>), so the free text is kept as its UTF-8
-- bytes: read it with convert_from(prompt, 'UTF8'), or encode(prompt, 'escape') when it may hold a NUL.
ALTER TABLE jobs
    ALTER COLUMN prompt TYPE bytea USING convert_to(prompt, 'UTF8'),
    ALTER COLUMN output_text TYPE bytea USING convert_to(output_text, 'UTF8'),
    ALTER COLUMN error_message TYPE bytea USING convert_to(error_message, 'UTF8');

-- Metadata is the producer's map of strings, stored as given: json keeps the text (and a \u0000 escape) verbatim,
-- where jsonb refuses \u0000. Nothing queries inside it.
ALTER TABLE jobs ALTER COLUMN metadata TYPE json USING metadata::json;
ALTER TABLE batches ALTER COLUMN metadata TYPE json USING metadata::json;
