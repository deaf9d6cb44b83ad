package control

import (
	"context"
	"strconv"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// AlertAgentAuditGap is raised when an agent's audit events arrive with a
// gap in their numbers: events the agent wrote that the server never got.
//
// An agent's outbox numbers its events in the order it writes them and
// delivers them strictly in that order, each batch acknowledged only once
// stored, and the next batch starts where the acknowledged one ended. So
// a number past the next one expected means the ones between will not
// come: they were refused and passed over, lost with a damaged line, or
// taken out of the outbox. The alert is raised at once, not after a wait.
const AlertAgentAuditGap = "alert.agent_audit_gap"

// maxGapCheck bounds how many numbers one event may make the server look
// up; a larger gap is reported whole without looking.
const maxGapCheck = 1024

// maxGapRanges bounds the missing ranges one alert lists.
const maxGapRanges = 16

// agentSeqKey is the delivered-set key saying that the agent's event
// number seq arrived. Agent events are kept as "agt_…/evt_…" and alerts as
// "alert.…/…": these keys cannot meet them.
func agentSeqKey(agentID string, seq int64) string {
	return agentID + "/seq/" + strconv.FormatInt(seq, 10)
}

// trackAuditSeq notes, in the transaction that stores ev, that the agent's
// event number ev.Seq arrived, moves the agent's AuditSeq past it, and
// raises AlertAgentAuditGap for numbers between the old AuditSeq and ev.Seq
// that never arrived. Events without a number (older agents, markers) are
// not tracked.
//
// Each number that arrives is also kept in the delivered set: AuditSeq is
// stored in the agent's record, which a check-in rewrites whole, and on
// PostgreSQL a check-in that read the record before this transaction
// committed can put an older AuditSeq back. The delivered set is only
// added to, so it tells a number that arrived from one that did not.
func (s *Service) trackAuditSeq(ctx context.Context, tx hoist.Tx, a hoist.AgentRecord, ev wire.AgentAuditEvent, now time.Time) error {
	if ev.Seq <= 0 {
		return nil
	}
	if _, err := tx.MarkDelivered(ctx, agentSeqKey(a.ID, ev.Seq)); err != nil {
		return err
	}
	rec, err := tx.AgentByID(ctx, a.ID)
	if err != nil {
		return err
	}
	if ev.Seq <= rec.AuditSeq {
		return nil // late, or numbered again by an outbox that lost its state
	}
	missing, err := missingSeqs(ctx, tx, a.ID, rec.AuditSeq+1, ev.Seq-1)
	if err != nil {
		return err
	}
	rec.AuditSeq = ev.Seq
	if err := tx.UpdateAgent(ctx, rec); err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	return audit(ctx, tx, now, SystemActor, AlertAgentAuditGap, a.ID, gapDetail(rec, missing, ev))
}

// seqRange is the numbers from First to Last.
type seqRange struct{ First, Last int64 }

// missingSeqs returns the numbers in [from, to] that never arrived, as
// ranges, and marks them, so that each is reported once. A range wider
// than maxGapCheck is returned whole.
func missingSeqs(ctx context.Context, tx hoist.Tx, agentID string, from, to int64) ([]seqRange, error) {
	if to < from {
		return nil, nil
	}
	if to-from+1 > maxGapCheck {
		return []seqRange{{from, to}}, nil
	}
	var out []seqRange
	for n := from; n <= to; n++ {
		fresh, err := tx.MarkDelivered(ctx, agentSeqKey(agentID, n))
		if err != nil {
			return nil, err
		}
		if !fresh {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k].Last == n-1 {
			out[k].Last = n
		} else {
			out = append(out, seqRange{n, n})
		}
	}
	return out, nil
}

// gapDetail is the detail of an AlertAgentAuditGap.
func gapDetail(a hoist.AgentRecord, missing []seqRange, ev wire.AgentAuditEvent) map[string]any {
	var count int64
	ranges := make([][2]int64, 0, min(len(missing), maxGapRanges))
	for i, r := range missing {
		count += r.Last - r.First + 1
		if i < maxGapRanges {
			ranges = append(ranges, [2]int64{r.First, r.Last})
		}
	}
	return map[string]any{
		"agent": a.ID, "host": a.Hostname,
		"missing_from": missing[0].First, "missing_to": missing[len(missing)-1].Last,
		"missing_count": count, "missing": ranges,
		"next_seq": ev.Seq, "next_event_id": ev.ID,
	}
}
