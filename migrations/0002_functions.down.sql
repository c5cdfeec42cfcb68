-- 0002_functions down: the functions every later migration uses. Reverting to 0001 has
-- already dropped the triggers that call them.
DROP FUNCTION refuse_user_delete_with_balance();
DROP FUNCTION audit_trigger_func();
DROP FUNCTION set_updated_at();
DROP FUNCTION create_range_partitions(text, int, text, int);
