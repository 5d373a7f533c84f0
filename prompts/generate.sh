#!/usr/bin/env bash
# Regenerates the built-in prompts: prompts/fr/*.wav and prompts/en/*.wav
# from the "name|text" lines of prompts/fr.txt and prompts/en.txt, with
# espeak-ng for speech and sox for the rest. Every clip is 8 kHz mono 16-bit
# PCM. Speech is trimmed of leading and trailing silence, normalized to
# -3 dBFS peak, faded in and out over 40 ms, and followed by a short gap.
#
# Idempotent: the same inputs (and espeak-ng and sox versions) give the same
# bytes (sox -R seeds dither and pluck noise), only files whose bytes change
# are rewritten, and WAVs no longer listed are removed.
#
# Needs: apt-get install -y espeak-ng sox
# Usage: prompts/generate.sh            (from anywhere)
#        CLUB="Club de soccer X" CLUB_ARTICLE=le prompts/generate.sh
set -euo pipefail

# --- What the prompts say about the club ----------------------------------
# The club's name, as spoken in both languages.
CLUB="${CLUB:-Club de Soccer Roussillon}"
# Its French article: le, la or l' ("vous avez joint le Club…",
# "Appel du Club…").
CLUB_ARTICLE="${CLUB_ARTICLE:-le}"
# The callback delay the voicemail prompt promises is not here: clubline
# says it at run time from voicemail.follow_up_within (prompts.Delay).

# --- How they sound -------------------------------------------------------
# espeak-ng has no Quebec French voice; fr-fr is the closest it ships.
FR_VOICE="${FR_VOICE:-fr-fr}"
EN_VOICE="${EN_VOICE:-en-us}"
SPEED="${SPEED:-150}"      # words per minute (espeak-ng default 175)
PEAK_DB=-3                 # speech peak, dBFS
FADE=0.04                  # fade-in and fade-out, seconds
GAP=0.06                   # silence after each spoken clip, seconds
BEEP_DB=-12                # beep peak, dBFS: a sine is loud next to speech
MUSIC_DB=-9                # hold music peak, dBFS

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

for tool in espeak-ng sox; do
	if ! command -v "$tool" >/dev/null; then
		echo "generate.sh: $tool is missing: apt-get install -y espeak-ng sox" >&2
		exit 1
	fi
done

case "$CLUB_ARTICLE" in
le) le_club="le $CLUB" du_club="du $CLUB" ;;
la) le_club="la $CLUB" du_club="de la $CLUB" ;;
"l'") le_club="l'$CLUB" du_club="de l'$CLUB" ;;
*)
	echo "generate.sh: CLUB_ARTICLE must be le, la or l', not '$CLUB_ARTICLE'" >&2
	exit 1
	;;
esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# xml_escape escapes text for espeak-ng's SSML mode.
xml_escape() {
	local s="${1//&/&amp;}"
	s="${s//</&lt;}"
	printf '%s' "${s//>/&gt;}"
}

# speak VOICE TEXT OUT: speech, trimmed, normalized, faded, with a gap.
speak() {
	espeak-ng -v "$1" -s "$SPEED" -m -w "$work/raw.wav" "$2"
	sox -R "$work/raw.wav" -r 8000 -c 1 -b 16 "$work/trim.wav" \
		silence 1 0.005 0.1% reverse silence 1 0.005 0.1% reverse
	sox -R "$work/trim.wav" "$3" gain -n "$PEAK_DB" fade t "$FADE" -0 "$FADE" pad 0 "$GAP"
}

# beep OUT: 1 kHz for 400 ms, with 10 ms ramps so it does not click.
beep() {
	sox -R -n -r 8000 -c 1 -b 16 "$1" synth 0.4 sine 1000 fade t 0.01 -0 0.01 gain -n "$BEEP_DB"
}

# silence SECONDS OUT
silence() {
	sox -R -n -r 8000 -c 1 -b 16 "$2" trim 0 "$1"
}

# hold_music OUT: a 20 s loop, C - Am - F - G twice; each chord is a soft
# sine pad that swells in and out under a plucked arpeggio. Notes are in
# semitones from A4 (sox's %N) and stay between 260 Hz and 1.4 kHz, where a
# phone line carries them; a low-pass softens the plucks.
hold_music() {
	local out="$1" dir="$work/music"
	local chords=("-9 -5 -2 3 7 10" "-5 0 3 0 3 7" "-4 0 3 8 12 15" "-7 -2 2 5 10 14")
	local inputs=() i=0 c n note at p1 p2 p3 a1 a2 a3
	mkdir -p "$dir"
	for c in "${chords[@]}" "${chords[@]}"; do
		# Three pad notes, then three arpeggio notes (and the first again,
		# an octave up), each placed on the loop's timeline.
		read -r p1 p2 p3 a1 a2 a3 <<<"$c"
		at=$((i * 2500))
		sox -R -n -r 8000 -c 1 "$dir/pad$i.wav" \
			synth 2.5 sine "%$p1" sine mix "%$p2" sine mix "%$p3" \
			tremolo 0.8 20 fade q 0.6 -0 0.9 gain -n -14 pad "$(ms "$at")"
		inputs+=("$dir/pad$i.wav")
		n=0
		for note in "$a1" "$a2" "$a3" "$((a1 + 12))"; do
			sox -R -n -r 8000 -c 1 "$dir/pluck$i-$n.wav" \
				synth 1.2 pluck "%$note" fade q 0 -0 0.8 gain -n -10 pad "$(ms $((at + n * 625)))"
			inputs+=("$dir/pluck$i-$n.wav")
			n=$((n + 1))
		done
		i=$((i + 1))
	done
	# The last plucks ring past 20 s: cut there with a short fade so the
	# loop restarts cleanly.
	sox -R -m "${inputs[@]}" -r 8000 -c 1 -b 16 "$out" \
		trim 0 20 fade t 0 -0 0.3 lowpass 2000 gain -n "$MUSIC_DB"
}

# ms MILLISECONDS: seconds with three decimals, for sox.
ms() {
	printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

# generate LANG VOICE: every line of LANG.txt into $work/LANG/NAME.wav.
generate() {
	local lang="$1" voice="$2" list="$here/$1.txt" out="$work/$1"
	local club
	club="$(xml_escape "$CLUB")"
	if [[ "$lang" != fr ]]; then
		# Spoken as the French name it is, in the English prompts too.
		club="<voice xml:lang=\"fr\">$club</voice>"
	fi
	mkdir -p "$out"
	local line name text lineno=0
	declare -A seen=()
	while IFS= read -r line || [[ -n "$line" ]]; do
		lineno=$((lineno + 1))
		[[ -z "${line//[[:space:]]/}" || "$line" == \#* ]] && continue
		if [[ "$line" != *"|"* ]]; then
			echo "$list:$lineno: want name|text, got: $line" >&2
			exit 1
		fi
		name="${line%%|*}"
		text="${line#*|}"
		if [[ ! "$name" =~ ^[a-z0-9_]+$ ]]; then
			echo "$list:$lineno: name '$name' must be lower-case letters, digits and _" >&2
			exit 1
		fi
		if [[ -n "${seen[$name]:-}" ]]; then
			echo "$list:$lineno: $name is already on line ${seen[$name]}" >&2
			exit 1
		fi
		seen[$name]=$lineno
		text="${text//\{club\}/$club}"
		text="${text//\{le_club\}/$(xml_escape "$le_club")}"
		text="${text//\{du_club\}/$(xml_escape "$du_club")}"
		case "$text" in
		@beep) beep "$out/$name.wav" ;;
		@hold_music) hold_music "$out/$name.wav" ;;
		"@silence "*) silence "${text#@silence }" "$out/$name.wav" ;;
		@*)
			echo "$list:$lineno: unknown directive $text" >&2
			exit 1
			;;
		*) speak "$voice" "$text" "$out/$name.wav" ;;
		esac
	done <"$list"
}

# publish LANG: copy changed clips into prompts/LANG, remove unlisted ones.
publish() {
	local lang="$1" dest="$here/$1" f name changed=0 removed=0 same=0
	mkdir -p "$dest"
	for f in "$work/$lang"/*.wav; do
		name="$(basename "$f")"
		if cmp -s "$f" "$dest/$name"; then
			same=$((same + 1))
		else
			cp "$f" "$dest/$name"
			changed=$((changed + 1))
		fi
	done
	for f in "$dest"/*.wav; do
		[[ -e "$f" ]] || continue
		if [[ ! -e "$work/$lang/$(basename "$f")" ]]; then
			rm "$f"
			removed=$((removed + 1))
		fi
	done
	echo "$lang: $changed written, $removed removed, $same unchanged"
}

generate fr "$FR_VOICE"
generate en "$EN_VOICE"
publish fr
publish en
