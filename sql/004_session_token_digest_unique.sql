-- A btree entry holds at most about 2.7 kB, so the unique index on the token itself refused tokens well
-- under the 4096 characters the CHECK allows. Uniqueness moves to a fixed-size digest of the token.
-- convert_to is only STABLE (it reads the database encoding, which never changes once the database exists),
-- so the digest is wrapped in a function declared IMMUTABLE for the index to use.
create function session_token_digest(token text) returns bytea
  language sql immutable strict parallel safe
  return sha256(convert_to(token, 'UTF8'));

alter table sessions drop constraint sessions_token_key;
create unique index sessions_token_digest_key on sessions (session_token_digest(token));
