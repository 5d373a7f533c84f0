package prompts

// Decisions (resampling, for recordings and synthesized speech):
//   - Band-limited interpolation with a windowed sinc (J. O. Smith's
//     "Digital Audio Resampling", the method of libresample and of sox's
//     rate effect): every output sample is the input filtered at its own
//     instant, so any pair of rates works (44.1 kHz, 22.05 kHz from
//     espeak-ng, 11.025 kHz, 48 kHz...) with no intermediate rate.
//   - The low-pass is the anti-aliasing filter: its cutoff is 0.925 of
//     the lower of the two Nyquist frequencies. At 8 kHz out the response
//     is flat to about 3.4 kHz (the telephone band) and down 80 dB from
//     4 kHz, so nothing above 4 kHz folds back into what callers hear (a
//     6 kHz whistle in a 44.1 kHz file would otherwise come out at 2 kHz).
//   - Kaiser window, beta 8 (about 80 dB of stop-band attenuation), 32
//     zero crossings each side; the filter is a table of 512 points per
//     zero crossing read with linear interpolation, as libresample does:
//     128 KiB, made once, whatever the rates.
//   - float64 throughout; rounding to 16 bits happens once, at the end of
//     the processing (audio.go).

import (
	"math"
	"sync"
)

const (
	rsZeros   = 32    // zero crossings of the sinc on each side
	rsPerZero = 512   // table points per zero crossing
	rsBeta    = 8.0   // Kaiser window parameter
	rsRolloff = 0.925 // cutoff, as a fraction of the lower Nyquist frequency
)

// rsTable is the windowed sinc from 0 to rsZeros zero crossings, with one
// point past the end so interpolation never reads out of range.
var rsTable = sync.OnceValue(func() []float64 {
	n := rsZeros*rsPerZero + 1
	t := make([]float64, n+1)
	i0 := bessel0(rsBeta)
	for i := 0; i < n; i++ {
		x := float64(i) / rsPerZero
		r := x / rsZeros
		w := bessel0(rsBeta*math.Sqrt(max(0, 1-r*r))) / i0
		s := 1.0
		if i > 0 {
			s = math.Sin(math.Pi*x) / (math.Pi * x)
		}
		t[i] = s * w
	}
	return t
})

// bessel0 is the modified Bessel function of the first kind, order 0.
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 200; k++ {
		term *= (x / 2) / float64(k)
		sum += term * term
		if term*term < sum*1e-21 {
			break
		}
	}
	return sum
}

// resample converts x, sampled at from Hz, to to Hz. Both rates must be
// positive. The signal is taken as silent before and after x.
func resample(x []float64, from, to int) []float64 {
	if from == to {
		return append([]float64(nil), x...)
	}
	table := rsTable()
	// c is the cutoff as a fraction of the input's Nyquist frequency: the
	// filter's zero crossings are 1/c input samples apart.
	c := rsRolloff * min(1, float64(to)/float64(from))
	step := c * rsPerZero // table points per input sample
	last := float64(rsZeros * rsPerZero)
	n := int(int64(len(x)) * int64(to) / int64(from))
	out := make([]float64, n)
	for i := range out {
		// The output instant, in input samples: exact as integers, then
		// split into the input sample at or before it and the fraction.
		pos := int64(i) * int64(from)
		k0 := int(pos / int64(to))
		frac := float64(pos%int64(to)) / float64(to)
		var sum float64
		// Left wing: x[k0], x[k0-1], ... at distances frac, frac+1, ...
		d := frac * step
		for k := k0; k >= 0 && d < last; k-- {
			if k < len(x) {
				j := int(d)
				h := table[j] + (d-float64(j))*(table[j+1]-table[j])
				sum += x[k] * h
			}
			d += step
		}
		// Right wing: x[k0+1], ... at distances 1-frac, 2-frac, ...
		d = (1 - frac) * step
		for k := k0 + 1; k < len(x) && d < last; k++ {
			j := int(d)
			h := table[j] + (d-float64(j))*(table[j+1]-table[j])
			sum += x[k] * h
			d += step
		}
		out[i] = sum * c
	}
	return out
}
