//go:build race

package jwtauth

// raceEnabled reports a -race build, where the heaviest tests scale their
// load down (the race detector slows verification about tenfold).
const raceEnabled = true
