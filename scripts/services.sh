#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on localhost; start them if they are installed but down.
set -u

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! postgres_up; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 30); do postgres_up && break; sleep 1; done
fi
if ! redis_up; then
  echo "services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  for _ in $(seq 30); do redis_up && break; sleep 1; done
fi

status=0
postgres_up || { echo "services: PostgreSQL is not answering on 127.0.0.1:5432 and could not be started" >&2; status=1; }
redis_up || { echo "services: Redis is not answering on 127.0.0.1:6379 and could not be started" >&2; status=1; }
[ $status -eq 0 ] && echo "services: PostgreSQL and Redis answer"
exit $status
