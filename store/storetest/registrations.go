package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline"
)

// reg is a registration made at base, valid for d.
func reg(staff, contact string, d time.Duration) *clubline.Registration {
	return &clubline.Registration{
		StaffID:      staff,
		Contact:      contact,
		Received:     "udp:203.0.113.5:5062",
		UserAgent:    "Linphone/5.2.5 (belle-sip/5.2.94)",
		Expires:      base.Add(d),
		CallID:       "reg-" + staff + "@10.0.0.7",
		CSeq:         1,
		RegisteredAt: base,
	}
}

func saveReg(t *testing.T, s clubline.Store, r *clubline.Registration) {
	t.Helper()
	if err := s.SaveRegistration(t.Context(), r); err != nil {
		t.Fatalf("SaveRegistration(%s, %s): %v", r.StaffID, r.Contact, err)
	}
}

func listRegs(t *testing.T, s clubline.Store, staff string, now time.Time) []*clubline.Registration {
	t.Helper()
	rs, err := s.Registrations(t.Context(), staff, now)
	if err != nil {
		t.Fatalf("Registrations(%q, %s): %v", staff, fmtTime(now), err)
	}
	for _, r := range rs {
		if r == nil {
			t.Fatalf("Registrations(%q) returned a nil registration", staff)
		}
	}
	return rs
}

// regNames lists "staff contact" for each registration.
func regNames(rs []*clubline.Registration) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.StaffID+" "+r.Contact)
	}
	return out
}

func wantRegs(t *testing.T, s clubline.Store, staff string, now time.Time, want ...string) {
	t.Helper()
	wantIDs(t, fmt.Sprintf("Registrations(%q, %s)", staff, fmtTime(now)), regNames(listRegs(t, s, staff, now)), want)
}

func diffRegistration(got, want *clubline.Registration) []string {
	var d []string
	str := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	str("StaffID", got.StaffID, want.StaffID)
	str("Contact", got.Contact, want.Contact)
	str("Received", got.Received, want.Received)
	str("Path", strings.Join(got.Path, " | "), strings.Join(want.Path, " | "))
	if len(got.Path) != len(want.Path) {
		d = append(d, fmt.Sprintf("len(Path) = %d, want %d", len(got.Path), len(want.Path)))
	}
	str("UserAgent", got.UserAgent, want.UserAgent)
	if !got.Expires.Equal(want.Expires) {
		d = append(d, fmt.Sprintf("Expires = %s, want %s", fmtTime(got.Expires), fmtTime(want.Expires)))
	}
	str("CallID", got.CallID, want.CallID)
	if got.CSeq != want.CSeq {
		d = append(d, fmt.Sprintf("CSeq = %d, want %d", got.CSeq, want.CSeq))
	}
	if !got.RegisteredAt.Equal(want.RegisteredAt) {
		d = append(d, fmt.Sprintf("RegisteredAt = %s, want %s", fmtTime(got.RegisteredAt), fmtTime(want.RegisteredAt)))
	}
	return d
}

func wantRegistration(t *testing.T, got, want *clubline.Registration) {
	t.Helper()
	if d := diffRegistration(got, want); len(d) > 0 {
		t.Errorf("registration %s %s differs from what was saved:\n\t%s", want.StaffID, want.Contact, strings.Join(d, "\n\t"))
	}
}

const (
	deskContact   = "sip:marie@192.168.1.20:5060;transport=udp"
	mobileContact = "<sip:marie-mobile@10.8.0.3:5062;transport=tcp>;+sip.instance=\"<urn:uuid:1>\""
)

func testRegistrationRoundTrip(t *testing.T, s clubline.Store) {
	want := reg("marie", deskContact, time.Hour)
	saveReg(t, s, reg("marie", deskContact, time.Hour))
	rs := listRegs(t, s, "marie", base)
	if len(rs) != 1 {
		t.Fatalf("Registrations = %q, want one", regNames(rs))
	}
	wantRegistration(t, rs[0], want)

	// What the store hands back is a copy.
	rs[0].Contact = "changed"
	wantRegs(t, s, "marie", base, "marie "+deskContact)

	// Only the fields the REGISTER handler always has.
	bare := &clubline.Registration{StaffID: "luc", Contact: "sip:luc@10.0.0.9", Expires: base.Add(time.Minute)}
	saveReg(t, s, bare)
	rs = listRegs(t, s, "luc", base)
	if len(rs) != 1 {
		t.Fatalf("Registrations(luc) = %q, want one", regNames(rs))
	}
	wantRegistration(t, rs[0], bare)
}

func testRegistrationSeveralContacts(t *testing.T, s clubline.Store) {
	saveReg(t, s, reg("marie", mobileContact, 10*time.Minute))
	saveReg(t, s, reg("marie", deskContact, time.Hour))
	saveReg(t, s, reg("luc", "sip:luc@10.0.0.9", time.Hour))
	// Ordered by contact, whatever the save order.
	wantRegs(t, s, "marie", base, "marie "+mobileContact, "marie "+deskContact)
	wantRegs(t, s, "luc", base, "luc sip:luc@10.0.0.9")
	wantRegs(t, s, "nobody", base)
}

func testRegistrationRefresh(t *testing.T, s clubline.Store) {
	saveReg(t, s, reg("marie", deskContact, time.Minute))
	saveReg(t, s, reg("marie", mobileContact, time.Hour))

	// The phone refreshes: same contact, later expiry, new CSeq and address.
	r := reg("marie", deskContact, time.Minute)
	r.RegisteredAt = base.Add(50 * time.Second)
	r.Expires = r.RegisteredAt.Add(2 * time.Hour)
	r.CSeq = 2
	r.Received = "udp:198.51.100.7:40000"
	saveReg(t, s, r)

	rs := listRegs(t, s, "marie", base.Add(90*time.Minute))
	if len(rs) != 1 {
		t.Fatalf("Registrations after the mobile expired = %q, want the desk phone alone", regNames(rs))
	}
	wantRegistration(t, rs[0], r)

	// A refresh to a shorter expiry shortens it.
	r.Expires = base.Add(2 * time.Minute)
	r.CSeq = 3
	saveReg(t, s, r)
	wantRegs(t, s, "marie", base.Add(time.Minute), "marie "+deskContact)
	wantRegs(t, s, "marie", base.Add(2*time.Minute))
}

func testRegistrationDelete(t *testing.T, s clubline.Store) {
	saveReg(t, s, reg("marie", deskContact, time.Hour))
	saveReg(t, s, reg("marie", mobileContact, time.Hour))

	if err := s.DeleteRegistration(t.Context(), "marie", deskContact); err != nil {
		t.Fatalf("DeleteRegistration: %v", err)
	}
	wantRegs(t, s, "marie", base, "marie "+mobileContact)

	for _, k := range [][2]string{{"marie", deskContact}, {"luc", deskContact}, {"marie", "sip:other@10.0.0.1"}} {
		if err := s.DeleteRegistration(t.Context(), k[0], k[1]); !errors.Is(err, clubline.ErrNotFound) {
			t.Errorf("DeleteRegistration(%s, %s) of an absent contact: err = %v, want ErrNotFound", k[0], k[1], err)
		}
	}

	// The last contact gone, the staff member is gone from the listing.
	if err := s.DeleteRegistration(t.Context(), "marie", mobileContact); err != nil {
		t.Fatalf("DeleteRegistration: %v", err)
	}
	wantRegs(t, s, "marie", base)
	wantRegs(t, s, "", base)

	// And can register again.
	saveReg(t, s, reg("marie", deskContact, time.Hour))
	wantRegs(t, s, "", base, "marie "+deskContact)
}

func testRegistrationExpiry(t *testing.T, s clubline.Store) {
	saveReg(t, s, reg("marie", deskContact, time.Hour))
	saveReg(t, s, reg("marie", mobileContact, 2*time.Hour))
	end := base.Add(time.Hour)

	wantRegs(t, s, "marie", end.Add(-time.Millisecond), "marie "+mobileContact, "marie "+deskContact)
	// At its Expires instant, in another zone, a registration is over.
	wantRegs(t, s, "marie", end.UTC(), "marie "+mobileContact)
	// Gone for good: reading at an earlier time does not bring it back (it
	// was deleted when it was found expired).
	wantRegs(t, s, "marie", base, "marie "+mobileContact)
	if err := s.DeleteRegistration(t.Context(), "marie", deskContact); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("DeleteRegistration of a contact cleaned up: err = %v, want ErrNotFound", err)
	}

	// Everything expired: nothing listed, and saving again works.
	wantRegs(t, s, "marie", base.Add(3*time.Hour))
	wantRegs(t, s, "", base.Add(3*time.Hour))
	r := reg("marie", deskContact, time.Hour)
	r.RegisteredAt, r.Expires = base.Add(4*time.Hour), base.Add(5*time.Hour)
	saveReg(t, s, r)
	wantRegs(t, s, "", base.Add(4*time.Hour), "marie "+deskContact)

	// Saved already expired (Expires 0 is the handler's to turn into a
	// delete, but a late write may get here): accepted, never listed.
	late := reg("luc", "sip:luc@10.0.0.9", 0)
	saveReg(t, s, late)
	wantRegs(t, s, "luc", base)
	wantRegs(t, s, "", base, "marie "+deskContact)
}

func testRegistrationsAllStaff(t *testing.T, s clubline.Store) {
	saveReg(t, s, reg("marie", deskContact, time.Hour))
	saveReg(t, s, reg("luc", "sip:luc@10.0.0.9", time.Hour))
	saveReg(t, s, reg("marie", mobileContact, time.Hour))
	saveReg(t, s, reg("ann", "sip:ann@10.0.0.4", time.Minute))
	// "ma" is a prefix of "marie": their contacts must not mix.
	saveReg(t, s, reg("ma", "sip:ma@10.0.0.5", time.Hour))

	wantRegs(t, s, "", base,
		"ann sip:ann@10.0.0.4", "luc sip:luc@10.0.0.9", "ma sip:ma@10.0.0.5",
		"marie "+mobileContact, "marie "+deskContact)
	wantRegs(t, s, "ma", base, "ma sip:ma@10.0.0.5")
	wantRegs(t, s, "", base.Add(time.Minute),
		"luc sip:luc@10.0.0.9", "ma sip:ma@10.0.0.5", "marie "+mobileContact, "marie "+deskContact)

	// Registrations are not calls or messages.
	wantIDs(t, "Calls", listCalls(t, s, time.Time{}, base.Add(24*time.Hour), 0), nil)
	wantFollowUps(t, s, time.Time{}, nil)
}

func testRegistrationRejectsInvalid(t *testing.T, s clubline.Store) {
	for name, r := range map[string]*clubline.Registration{
		"nil":        nil,
		"no staff":   {Contact: deskContact, Expires: base},
		"no contact": {StaffID: "marie", Expires: base},
		"no expiry":  {StaffID: "marie", Contact: deskContact},
		"NUL":        {StaffID: "ma\x00rie", Contact: deskContact, Expires: base},
	} {
		if err := s.SaveRegistration(t.Context(), r); err == nil {
			t.Errorf("SaveRegistration(%s) = nil, want an error", name)
		}
	}
	if err := s.DeleteRegistration(t.Context(), "", deskContact); err == nil || errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("DeleteRegistration without a staff id: err = %v, want an invalid-argument error", err)
	}
	wantRegs(t, s, "", base)
}

func testRegistrationConcurrent(t *testing.T, s clubline.Store) {
	const staff, phones, refreshes = 4, 3, 5
	var wg sync.WaitGroup
	errs := make(chan error, staff*phones*refreshes*3)
	for i := range staff {
		for p := range phones {
			wg.Go(func() {
				id := fmt.Sprintf("staff%d", i)
				contact := fmt.Sprintf("sip:%s@10.0.%d.%d", id, i, p)
				for n := range refreshes {
					r := reg(id, contact, time.Hour)
					r.CSeq = uint32(n + 1)
					r.RegisteredAt = base.Add(time.Duration(n) * time.Second)
					if err := s.SaveRegistration(t.Context(), r); err != nil {
						errs <- fmt.Errorf("SaveRegistration(%s): %w", contact, err)
					}
					if _, err := s.Registrations(t.Context(), "", base); err != nil {
						errs <- fmt.Errorf("Registrations during writes: %w", err)
					}
				}
				// A temporary contact, registered and removed.
				tmp := reg(id, contact+";tmp", time.Hour)
				if err := s.SaveRegistration(t.Context(), tmp); err != nil {
					errs <- err
				}
				if err := s.DeleteRegistration(t.Context(), id, tmp.Contact); err != nil {
					errs <- fmt.Errorf("DeleteRegistration(%s): %w", tmp.Contact, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rs := listRegs(t, s, "", base)
	if len(rs) != staff*phones {
		t.Fatalf("Registrations after concurrent writes = %d contacts, want %d: %q", len(rs), staff*phones, regNames(rs))
	}
	for _, r := range rs {
		if r.CSeq != refreshes {
			t.Errorf("%s %s: CSeq = %d, want the last refresh's %d", r.StaffID, r.Contact, r.CSeq, refreshes)
		}
	}
}

func testRegistrationReopen(t *testing.T, open DurableOpener) {
	s, reopen := open(t)
	desk, mobile := reg("marie", deskContact, time.Hour), reg("marie", mobileContact, time.Minute)
	saveReg(t, s, desk)
	saveReg(t, s, mobile)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = reopen()
	t.Cleanup(func() { closeStore(t, s) })
	rs := listRegs(t, s, "marie", base)
	if len(rs) != 2 {
		t.Fatalf("Registrations after reopen = %q, want 2", regNames(rs))
	}
	wantRegistration(t, rs[0], mobile)
	wantRegistration(t, rs[1], desk)
}

// A contact registered through a proxy keeps its Path, in order; one
// registered directly has none (nil or empty, either will do).
func testRegistrationPath(t *testing.T, s clubline.Store) {
	proxied := reg("marie", deskContact, time.Hour)
	proxied.Received = "udp:192.0.2.10:5060"
	proxied.Path = []string{
		"<sip:192.0.2.10;lr;received=sip:203.0.113.5:5062>",
		`<sip:edge.example.net;lr>;x="a, b"`,
	}
	saveReg(t, s, proxied)
	direct := reg("luc", "sip:luc@10.0.0.9", time.Hour)
	saveReg(t, s, direct)

	rs := listRegs(t, s, "", base)
	if len(rs) != 2 {
		t.Fatalf("Registrations = %q, want two", regNames(rs))
	}
	wantRegistration(t, rs[0], direct)
	wantRegistration(t, rs[1], proxied)

	// What the store hands back is a copy, Path included.
	rs[1].Path[0] = "changed"
	wantRegistration(t, listRegs(t, s, "marie", base)[0], proxied)

	// A refresh without a Path (the phone now registers directly) drops it.
	refreshed := reg("marie", deskContact, 2*time.Hour)
	refreshed.CSeq = 2
	saveReg(t, s, refreshed)
	wantRegistration(t, listRegs(t, s, "marie", base)[0], refreshed)
}
