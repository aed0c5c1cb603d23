-- Custom field definitions (kith_model::FieldDefinition), per tenant, object and key. Writes
-- check values against them under a shared advisory lock; a change takes it exclusively.
CREATE TABLE kith_field_definitions (
    tenant_id  bigint NOT NULL,
    object     smallint NOT NULL,
    key        text COLLATE "C" NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, object, key)
);
