-- Kith's PostgreSQL schema, version 2: what several nodes share to divide the plugin work.

-- Each running node, and when it last said it was alive. Small and global: a Citus reference
-- table.
CREATE TABLE kith_nodes (
    node          text COLLATE "C" PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL
);

-- The node that dispatches a tenant's events to its plugins. `fence` grows with every change
-- of holder; a dispatch batch commits only while its node still holds the lease with the fence
-- it started with, so a node that lost its lease can never apply a batch.
CREATE TABLE kith_leases (
    tenant_id   bigint PRIMARY KEY,
    holder      text COLLATE "C" NOT NULL,
    fence       bigint NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- Rescore jobs and their progress, so that any node can answer for them.
CREATE TABLE kith_jobs (
    tenant_id  bigint NOT NULL,
    job_id     bigint NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, job_id)
);
