package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/postgres"
	"github.com/hoist-jit/hoist/testenv"
)

// A replica's own notification wakes its agent once, at the commit, not a
// second time when it comes back through the listener; another replica's
// notification for the same agent still wakes it. Two stores on one
// database are the two replicas; a bare LISTEN connection shows when the
// first replica's notification has gone out, so that everything after it
// in commit order is heard after it too.
func TestOwnNotificationWakesOnce(t *testing.T) {
	dbURL := pgtest.URL(t)
	here, there := openStore(t, dbURL), openStore(t, dbURL)

	observer, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close(context.Background())
	if _, err := observer.Exec(context.Background(), "LISTEN "+postgres.AgentEventsChannel); err != nil {
		t.Fatal(err)
	}

	woken := listen(t, dbURL, here)
	count := woken.count
	notify := func(s interface {
		Update(context.Context, func(hoist.Tx) error) error
	}, id string) {
		t.Helper()
		if err := s.Update(context.Background(), func(tx hoist.Tx) error { return tx.NotifyAgent(context.Background(), id) }); err != nil {
			t.Fatal(err)
		}
	}

	notify(here, "agt_a")
	if got := count("agt_a"); got != 1 {
		t.Fatalf("agt_a woken %d times when its notifying transaction returned, want once (at the commit)", got)
	}
	waitCtx, done := context.WithTimeout(context.Background(), time.Minute)
	defer done()
	if n, err := observer.WaitForNotification(waitCtx); err != nil || n.Payload != "agt_a" {
		t.Fatalf("observer heard %+v, %v; want agt_a's notification", n, err)
	}

	// Committed after the first replica's echo went out: heard after it.
	notify(there, "agt_a")
	notify(there, "agt_last")
	testenv.WaitUntil(t, "the other replica's last notification", func() bool { return count("agt_last") == 1 })
	if got := count("agt_a"); got != 2 {
		t.Errorf("agt_a woken %d times, want 2: once at this replica's commit, once by the other replica's notification (its own echo skipped)", got)
	}
}
