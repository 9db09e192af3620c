/*
 * worldstate 1.0 -> 1.1.
 *
 * 1.0 is released; every schema change since lives here, and a new
 * database reaches 1.1 by the same path (CREATE EXTENSION worldstate runs
 * worldstate--1.0.sql, then this file).  test/t/020_upgrade.pl restores a
 * 1.0 database with data, updates it and checks its world is unchanged.
 *
 * Sections: events (actor), modules and privileges, constraints, the
 * transition protocol, queries and time travel, snapshots, the event bus,
 * session and cache state, broadcasts, monitoring.
 */

\echo Use "ALTER EXTENSION worldstate UPDATE TO '1.1'" to load this file. \quit

------------------------------------------------------------------------
-- Events: actor and meta; the transition protocol; queries and time
-- travel; progress of long operations
------------------------------------------------------------------------



------------------------------------------------------------------------
-- Modules, privileges, kinds, constraints; lifecycle
------------------------------------------------------------------------



------------------------------------------------------------------------
-- Caller SQL, snapshots, session state, resource bounds
------------------------------------------------------------------------



------------------------------------------------------------------------
-- Broadcasts: authenticated messages, rejections
------------------------------------------------------------------------



------------------------------------------------------------------------
-- Grants and comments of the objects above live with them.
------------------------------------------------------------------------
