-- Shared by the regression files that check errors (included with \i, from
-- the directory pg_regress runs in).  try(statement): the SQLSTATE,
-- message, detail and hint of the error the statement raises ('00000' and
-- NULLs when it raises none).
CREATE FUNCTION pg_temp.try(stmt text, OUT code text, OUT message text,
                            OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE stmt;
    code := '00000';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$f$;
