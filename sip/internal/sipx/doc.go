// Package sipx holds the helpers that package sip and the packages below
// it (the registrar, and the trunk to come) share: reading headers
// whichever form a peer used, building replies, and masking numbers and
// addresses for logs. It knows nothing of calls, dialogs or the Store.
package sipx
