-- Users and teams of a tenant, and deals indexed by owner (owners are user ids from now on).

CREATE TABLE kith_users (
    tenant_id  bigint NOT NULL,
    id         uuid NOT NULL,
    email      text COLLATE "C",
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX kith_users_email ON kith_users (tenant_id, email) WHERE email IS NOT NULL;

CREATE TABLE kith_teams (
    tenant_id   bigint NOT NULL,
    id          uuid NOT NULL,
    name_lower  text COLLATE "C" NOT NULL,
    doc         bytea NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX kith_teams_name ON kith_teams (tenant_id, name_lower);

CREATE TABLE kith_team_members (
    tenant_id  bigint NOT NULL,
    team       uuid NOT NULL,
    user_id    uuid NOT NULL,
    PRIMARY KEY (tenant_id, team, user_id)
);
CREATE INDEX kith_team_members_user ON kith_team_members (tenant_id, user_id);

-- Sales targets: `key` is the quota's subject, period, start and currency as bytes, in the
-- order they are listed (the same bytes the embedded store keys them by).
CREATE TABLE kith_quotas (
    tenant_id  bigint NOT NULL,
    key        bytea NOT NULL,
    doc        bytea NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

ALTER TABLE kith_deals ADD COLUMN owner text COLLATE "C";
CREATE INDEX kith_deals_owner ON kith_deals (tenant_id, owner, id) WHERE owner IS NOT NULL;

-- Steps of an upgrade that need Kith's own code (records are postcard, which SQL cannot read):
-- a row stays until its step has run, so a crash in between runs it again at the next start.
CREATE TABLE kith_upgrades (
    step  text COLLATE "C" PRIMARY KEY
);
INSERT INTO kith_upgrades (step) VALUES ('backfill-deal-owners'), ('adopt-owners');
