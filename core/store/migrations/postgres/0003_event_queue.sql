-- Kith's PostgreSQL schema, version 3: events are committed to a queue and numbered just
-- after, so that writers never hold the tenant's head row across their commit's flush.
--
-- A write inserts its events here, unnumbered, in its own transaction (which commits and
-- flushes alongside other writers', as PostgreSQL groups concurrent commits). Right after, it
-- numbers every committed event of the tenant in one short transaction under the tenant's
-- advisory lock: the events move to kith_events with the next sequence numbers, in queue
-- order. So the log stays gap-free and in commit order (an event committed before another
-- write began is queued, and numbered, before it), and one flush numbers many writers' events.
CREATE SEQUENCE kith_event_queue_ids;
CREATE TABLE kith_event_queue (
    tenant_id  bigint NOT NULL,
    qid        bigint NOT NULL DEFAULT nextval('kith_event_queue_ids'),
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, qid)
);
