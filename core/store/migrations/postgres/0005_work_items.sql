-- Work items (tasks, tickets, complaints): queues by assignee, status, due date and priority;
-- interactions linked to a deal. Rows stored before this migration get their columns from
-- their records in the `backfill-work` upgrade step (see upgrade.rs).
ALTER TABLE kith_interactions
    ADD COLUMN deal        uuid,
    ADD COLUMN assignee    text COLLATE "C",
    ADD COLUMN work_status smallint,
    ADD COLUMN work_due    bigint,
    ADD COLUMN priority    smallint,
    ADD COLUMN kind        smallint;

CREATE INDEX kith_interactions_work ON kith_interactions
    (tenant_id, work_status, work_due, priority, id) WHERE work_status IS NOT NULL;
CREATE INDEX kith_interactions_assigned ON kith_interactions
    (tenant_id, assignee, work_status, work_due, priority, id) WHERE work_status IS NOT NULL;
CREATE INDEX kith_interactions_deal ON kith_interactions
    (tenant_id, deal, occurred_at, id) WHERE deal IS NOT NULL;

INSERT INTO kith_upgrades (step) SELECT 'backfill-work'
    WHERE EXISTS (SELECT 1 FROM kith_interactions);
