package sipx

import "github.com/clubline/clubline"

// Digits returns the digits of a phone number written with separators
// ("+1 (514) 555-0101" → "15145550101"), or "" if s is not a number.
func Digits(s string) string { return clubline.Digits(s) }

// SameNumber reports whether two phone numbers are the same whatever
// their form (clubline.SameNumber).
func SameNumber(a, b string) bool { return clubline.SameNumber(a, b) }
