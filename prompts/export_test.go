package prompts

// Resample is resample, for the tests of the resampler.
var Resample = resample
