-- A body kept as a large object names it in an oid column too (besides
-- bodies.blob's "lo:<oid>" key), so that tools that look for references in
-- oid columns, such as vacuumlo, see it as in use.
ALTER TABLE bodies ADD COLUMN large_object oid;
UPDATE bodies SET large_object = substr(blob, 4)::oid WHERE blob LIKE 'lo:%';
