-- Kith's PostgreSQL schema, version 1.
--
-- Every tenant-scoped table's primary key starts with tenant_id, and no query joins two tenants,
-- so Citus can distribute them all by tenant_id and co-locate them (see the README). Records
-- are stored as `doc` (postcard, the same encoding as the embedded store) beside the columns
-- that are indexed, filtered, sorted or kept unique; the database enforces uniqueness per tenant.
-- Text keys use the "C" collation so that sorting is by bytes, as in the embedded store.

CREATE TABLE kith_tenants (
    tenant_id  bigint PRIMARY KEY,
    slug       text COLLATE "C" NOT NULL UNIQUE,
    doc        bytea NOT NULL
);
CREATE SEQUENCE kith_tenant_ids;

-- The last event sequence number of each tenant: the row lock that numbers events without
-- gaps and in commit order.
CREATE TABLE kith_heads (
    tenant_id  bigint PRIMARY KEY,
    head       bigint NOT NULL
);

CREATE TABLE kith_events (
    tenant_id  bigint NOT NULL,
    seq        bigint NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE kith_customers (
    tenant_id     bigint NOT NULL,
    id            uuid NOT NULL,
    email         text COLLATE "C",
    phone         text COLLATE "C",
    name_lower    text COLLATE "C" NOT NULL,
    lifecycle     smallint NOT NULL,
    owner         text COLLATE "C",
    organization  uuid,
    doc           bytea NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX kith_customers_email ON kith_customers (tenant_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX kith_customers_phone ON kith_customers (tenant_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX kith_customers_name ON kith_customers (tenant_id, name_lower, id);
CREATE INDEX kith_customers_lifecycle ON kith_customers (tenant_id, lifecycle, id);
CREATE INDEX kith_customers_owner ON kith_customers (tenant_id, owner, id) WHERE owner IS NOT NULL;
CREATE INDEX kith_customers_organization ON kith_customers (tenant_id, organization, id)
    WHERE organization IS NOT NULL;

CREATE TABLE kith_customer_external_ids (
    tenant_id    bigint NOT NULL,
    source       text COLLATE "C" NOT NULL,
    external_id  text COLLATE "C" NOT NULL,
    customer     uuid NOT NULL,
    PRIMARY KEY (tenant_id, source, external_id)
);
CREATE INDEX kith_customer_external_ids_customer ON kith_customer_external_ids (tenant_id, customer);

CREATE TABLE kith_customer_tags (
    tenant_id  bigint NOT NULL,
    tag        text COLLATE "C" NOT NULL,
    customer   uuid NOT NULL,
    PRIMARY KEY (tenant_id, tag, customer)
);
CREATE INDEX kith_customer_tags_customer ON kith_customer_tags (tenant_id, customer);

CREATE TABLE kith_interactions (
    tenant_id    bigint NOT NULL,
    id           uuid NOT NULL,
    customer     uuid NOT NULL,
    occurred_at  bigint NOT NULL,
    ext_source   text COLLATE "C",
    ext_id       text COLLATE "C",
    due_at       bigint,
    doc          bytea NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX kith_interactions_timeline ON kith_interactions (tenant_id, customer, occurred_at, id);
CREATE UNIQUE INDEX kith_interactions_external ON kith_interactions (tenant_id, ext_source, ext_id)
    WHERE ext_id IS NOT NULL;
CREATE INDEX kith_interactions_due ON kith_interactions (tenant_id, due_at, id) WHERE due_at IS NOT NULL;

CREATE TABLE kith_pipelines (
    tenant_id   bigint NOT NULL,
    id          uuid NOT NULL,
    name_lower  text COLLATE "C" NOT NULL,
    doc         bytea NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX kith_pipelines_name ON kith_pipelines (tenant_id, name_lower);

CREATE TABLE kith_deals (
    tenant_id  bigint NOT NULL,
    id         uuid NOT NULL,
    customer   uuid NOT NULL,
    pipeline   uuid NOT NULL,
    stage      uuid NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX kith_deals_stage ON kith_deals (tenant_id, pipeline, stage, id);
CREATE INDEX kith_deals_customer ON kith_deals (tenant_id, customer, id);

-- Requests answered under an idempotency key (tenant_id 0: requests outside tenants).
CREATE TABLE kith_idempotency (
    tenant_id  bigint NOT NULL,
    key        text COLLATE "C" NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

-- API tokens (admin tokens and every tenant's keys): not tenant-scoped.
CREATE TABLE kith_tokens (
    id         text COLLATE "C" PRIMARY KEY,
    tenant_id  bigint,
    doc        bytea NOT NULL
);

-- The plugin registry: not tenant-scoped. An (id, version) is bound to its bytes.
CREATE TABLE kith_plugins (
    hash     text COLLATE "C" PRIMARY KEY,
    id       text COLLATE "C" NOT NULL,
    version  text COLLATE "C" NOT NULL,
    doc      bytea NOT NULL,
    UNIQUE (id, version)
);
CREATE TABLE kith_plugin_bytes (
    hash   text COLLATE "C" PRIMARY KEY,
    bytes  bytea NOT NULL
);

CREATE TABLE kith_enablements (
    tenant_id  bigint NOT NULL,
    plugin     text COLLATE "C" NOT NULL,
    hash       text COLLATE "C" NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, plugin)
);
CREATE INDEX kith_enablements_hash ON kith_enablements (hash);

CREATE TABLE kith_cursors (
    tenant_id  bigint NOT NULL,
    plugin     text COLLATE "C" NOT NULL,
    seq        bigint NOT NULL,
    PRIMARY KEY (tenant_id, plugin)
);

CREATE TABLE kith_health (
    tenant_id  bigint NOT NULL,
    plugin     text COLLATE "C" NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, plugin)
);

CREATE TABLE kith_models (
    tenant_id  bigint NOT NULL,
    plugin     text COLLATE "C" NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, plugin)
);

CREATE TABLE kith_deliveries (
    tenant_id    bigint NOT NULL,
    plugin       text COLLATE "C" NOT NULL,
    delivery_id  text COLLATE "C" NOT NULL,
    doc          bytea NOT NULL,
    PRIMARY KEY (tenant_id, plugin, delivery_id)
);

CREATE TABLE kith_scores (
    tenant_id  bigint NOT NULL,
    customer   uuid NOT NULL,
    plugin     text COLLATE "C" NOT NULL,
    score      double precision NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, customer, plugin)
);
CREATE INDEX kith_scores_rank ON kith_scores (tenant_id, plugin, score, customer);

CREATE TABLE kith_segments (
    tenant_id  bigint NOT NULL,
    customer   uuid NOT NULL,
    plugin     text COLLATE "C" NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, customer, plugin)
);

CREATE TABLE kith_segment_members (
    tenant_id  bigint NOT NULL,
    plugin     text COLLATE "C" NOT NULL,
    segment    text COLLATE "C" NOT NULL,
    customer   uuid NOT NULL,
    PRIMARY KEY (tenant_id, plugin, segment, customer)
);
CREATE INDEX kith_segment_members_customer ON kith_segment_members (tenant_id, customer);
