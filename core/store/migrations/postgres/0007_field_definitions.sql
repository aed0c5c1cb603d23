-- Custom field definitions (kith_model::FieldDefinition), per tenant, object and key. Writes
-- check values against them under a shared advisory lock; a change takes it exclusively.
CREATE TABLE kith_field_definitions (
    tenant_id  bigint NOT NULL,
    object     smallint NOT NULL,
    key        text COLLATE "C" NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, object, key)
);

-- Index entries of unique or sortable custom fields: the value in an order-preserving encoding
-- (kith_model::FieldDefinition::index_values), bytea comparing byte by byte.
CREATE TABLE kith_field_index (
    tenant_id  bigint NOT NULL,
    object     smallint NOT NULL,
    key        text COLLATE "C" NOT NULL,
    value      bytea NOT NULL,
    id         uuid NOT NULL,
    PRIMARY KEY (tenant_id, object, key, value, id)
);
