package system

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"

	"github.com/hashicorp/raft"
)

// Membership is the cluster's configuration as a node has it, the answer
// of GET /membership (and of the changes, once they are committed). The
// leader's is the cluster's.
type Membership struct {
	// ID is the answering node's id, LeaderID the leader it knows ("" when
	// none).
	ID       string `json:"id"`
	LeaderID string `json:"leader_id"`
	// Servers are the members, voters and non-voters.
	Servers []Server `json:"servers"`
}

// Server is one member of the configuration.
type Server struct {
	// ID is its raft server id (MemberID), Address its raft address.
	ID      string `json:"id"`
	Address string `json:"address"`
	// Voter: it votes and counts towards the quorum; false for a member
	// still catching up (a non-voter, etcd's learner).
	Voter bool `json:"voter"`
}

// MemberChange is the body of POST /membership/add and
// /membership/remove.
type MemberChange struct {
	// ID is the member's raft server id.
	ID string `json:"id"`
	// Address is its raft address (add only), e.g. "n3:7000".
	Address string `json:"address,omitempty"`
	// Voter adds it as a voter, or promotes the non-voter of that id
	// (add only); false adds it as a non-voter.
	Voter bool `json:"voter,omitempty"`
}

// memberError is the JSON error of the membership endpoints; a node that
// is not the leader answers 409 Conflict naming the leader it knows, so
// that the caller asks there.
type memberError struct {
	Error    string `json:"error"`
	LeaderID string `json:"leader_id,omitempty"`
}

// configuration is the latest raft configuration this node has (committed
// or not).
func (n *Node) configuration() raft.Configuration {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return raft.Configuration{}
	}
	return f.Configuration()
}

// removed reports whether the latest configuration this node has no
// longer lists it: it was removed from the cluster. A node that has no
// configuration yet (joining, not added) is not removed.
func (n *Node) removed() bool {
	servers := n.configuration().Servers
	return len(servers) > 0 && !slices.ContainsFunc(servers, func(s raft.Server) bool { return s.ID == raft.ServerID(n.cfg.ID) })
}

// membership is the node's view of the configuration.
func (n *Node) membership() Membership {
	lid, _ := n.Leader()
	m := Membership{ID: n.cfg.ID, LeaderID: lid, Servers: []Server{}}
	for _, s := range n.configuration().Servers {
		m.Servers = append(m.Servers, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return m
}

func (n *Node) handleMembership(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.membership())
}

// handleMemberChange serves POST /membership/add (add reports true) and
// /membership/remove on the leader: hashicorp/raft's AddNonvoter,
// AddVoter (which also promotes a non-voter) and RemoveServer, answered
// once the change is committed, with the configuration after it.
func (n *Node) handleMemberChange(add bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var c MemberChange
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		err := dec.Decode(&c)
		switch {
		case err != nil:
		case c.ID == "":
			err = errors.New("no id")
		case add:
			_, _, err = net.SplitHostPort(c.Address)
		case c.Address != "" || c.Voter:
			err = errors.New("remove takes only the id")
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, memberError{Error: fmt.Sprintf(
				`bad membership change: %v; want {"id":"n3.2","address":"n3:7000","voter":false} to add, {"id":"n3"} to remove`, err)})
			return
		}
		if n.raft.State() != raft.Leader {
			lid, _ := n.Leader()
			writeJSON(w, http.StatusConflict, memberError{Error: "not the leader: ask the leader", LeaderID: lid})
			return
		}
		id, addr := raft.ServerID(c.ID), raft.ServerAddress(c.Address)
		var f raft.IndexFuture
		switch {
		case !add:
			f = n.raft.RemoveServer(id, 0, n.cfg.RequestTimeout)
		case c.Voter:
			f = n.raft.AddVoter(id, addr, 0, n.cfg.RequestTimeout)
		default:
			f = n.raft.AddNonvoter(id, addr, 0, n.cfg.RequestTimeout)
		}
		if err := waitFuture(r.Context(), f); err != nil {
			code := http.StatusServiceUnavailable
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				code = http.StatusConflict
			}
			lid, _ := n.Leader()
			writeJSON(w, code, memberError{Error: fmt.Sprintf("membership change not committed: %v; it may still apply: read GET /membership", err), LeaderID: lid})
			return
		}
		n.log.Info("membership changed", "add", add, "id", c.ID, "address", c.Address, "voter", c.Voter, "index", f.Index())
		writeJSON(w, http.StatusOK, n.membership())
	}
}
