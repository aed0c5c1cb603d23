-- Customers' email identity (the address lowercased: two customers of a tenant never share it)
-- and likeness (the identity without the local part's dots and +tag, look-alike characters
-- replaced: probable duplicates). See kith_model::Email::identity and ::likeness. Rows stored
-- before this migration get both in the `backfill-email-identity` upgrade step (upgrade.rs).
ALTER TABLE kith_customers
    ADD COLUMN email_like     text COLLATE "C",
    ADD COLUMN email_identity text COLLATE "C";

CREATE INDEX kith_customers_email_like ON kith_customers
    (tenant_id, email_like, email_identity, id) WHERE email_like IS NOT NULL;

INSERT INTO kith_upgrades (step) SELECT 'backfill-email-identity'
    WHERE EXISTS (SELECT 1 FROM kith_customers WHERE email IS NOT NULL);
