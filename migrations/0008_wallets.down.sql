-- 0008_wallets down: the ledger, the promo lots and the wallets (ledger tables:
-- `rez-db migrate revert` refuses this file while they hold rows, unless --force),
-- with their partitions, and the trigger 0008 put on users.
DROP TABLE wallet_transactions;
DROP TABLE promo_coins;
DROP TRIGGER refuse_delete_with_wallet_balance ON users;
DROP TABLE wallets;
