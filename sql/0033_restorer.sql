-- Appending exported records verbatim (lethe replay, SPEC §7) becomes a break-glass right:
-- only the role lethe_restorer, which deploy/roles.sql creates and makes nobody a member of,
-- may call lethe.audit_append_verbatim(). The database cannot tell a replayed record from a
-- forged one (no secret is involved), and a correctly hashed item_purged record continuing a
-- chain passes every later run, status --check, export and verify --anchors: SPEC §5 has no
-- role, the operator's included, write the audit directly.
--
-- A database whose roles were set up before this change still grants the function to
-- lethe_operator (and so to every operator) until roles.sql runs again. This takes that grant
-- back at once, from every role but the owner and lethe_restorer, whatever its name: a grant
-- made by hand to a login role is no different. Run by the owner (or a superuser, or a member
-- of the owner, for whom PostgreSQL revokes as the owner), it revokes what the owner granted,
-- and CASCADE what was granted on from it (every grant derives from the owner's). Until
-- roles.sql creates lethe_restorer, only the owner can replay; replay's hint says what to run.

DO $restorer$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee::regrole::text AS grantee
               FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a
              WHERE p.oid = 'lethe.audit_append_verbatim(text[])'::regprocedure
                AND a.privilege_type = 'EXECUTE'
                AND a.grantor = p.proowner AND a.grantee <> 0 AND a.grantee <> p.proowner
                AND a.grantee::regrole::text <> 'lethe_restorer'
              ORDER BY 1
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION lethe.audit_append_verbatim(text[]) FROM %s CASCADE',
                       g.grantee);
    END LOOP;
END $restorer$;
REVOKE EXECUTE ON FUNCTION lethe.audit_append_verbatim(text[]) FROM PUBLIC;
