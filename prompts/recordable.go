package prompts

import "slices"

// Recordable is a prompt the club may record in its own voice (on the
// web page, or by phone when Phone is set), with what it is for, in
// French and English, for the page that lists them.
type Recordable struct {
	Name string
	// ClubNaming: the built-in says the club's name (BuiltinClub).
	ClubNaming bool
	// Phone: offered when recording by phone, in this order. The
	// language's studio_name_<Name> clip says which prompt it is.
	Phone bool
	// Music is hold music: levelled and faded as music, not speech.
	Music bool
	// French and English say what the prompt is and what to say in it.
	French, English string
}

var recordables = []Recordable{
	{Name: "greeting", ClubNaming: true, Phone: true,
		French:  "Accueil : le premier message, qui nomme le club (« Bonjour, vous avez joint le … »).",
		English: "Greeting: the first thing callers hear; it names the club (“Hello, you have reached …”)."},
	{Name: "closed", Phone: true,
		French:  "Bureaux fermés, hors des heures d'ouverture. Le retour, la touche d'urgence et la messagerie suivent automatiquement ; les heures, après le message.",
		English: "Office closed, out of hours. When the office reopens, the urgent key and the message follow automatically; the hours, after the message."},
	{Name: "voicemail_full", Phone: true,
		French:  "Consigne de la messagerie, en entier : nom, numéro, raison de l'appel, le délai de rappel, puis « Appuyez sur le carré pour terminer ».",
		English: "The whole voicemail instruction: name, number, reason for the call, the callback delay, then “Press pound when you are done”."},
	{Name: "callback_hello", ClubNaming: true, Phone: true,
		French:  "Rappel : ce qu'entend l'appelant que le club rappelle (« Bonjour, le … vous rappelle »).",
		English: "Callback: what a caller the club calls back hears (“Hello, … is calling you back”)."},
	{Name: "call_confirm", ClubNaming: true, Phone: true,
		French:  "Annonce aux bénévoles qui répondent : « Appel du … pour », arrêtez-vous avant la catégorie, qui est dite ensuite.",
		English: "Announcement to the staff who answer: “Call from … about”; stop before the category, which is said after it."},
	{Name: "goodbye", Phone: true,
		French:  "Au revoir, à la fin d'un appel (« Merci, au revoir et bonne journée »).",
		English: "Goodbye, at the end of a call (“Thank you, goodbye and have a good day”)."},
	{Name: "menu_intro",
		French:  "Introduction du menu, avant les options.",
		English: "Menu introduction, before the options."},
	{Name: "closed_today",
		French:  "Fermé aujourd'hui, pour un congé ou une fermeture qui n'a pas son propre message.",
		English: "Closed today, for a holiday or closure without its own prompt."},
	{Name: "voicemail",
		French:  "Début de la consigne de messagerie, jusqu'à « après le signal » : le délai de rappel est dit ensuite depuis la configuration.",
		English: "Start of the voicemail instruction, up to “after the tone”: the callback delay is said after it from the configuration."},
	{Name: "voicemail_saved",
		French:  "Message enregistré, au revoir.",
		English: "Message recorded, goodbye."},
	{Name: "connecting",
		French:  "Mise en communication avec un bénévole.",
		English: "Connecting the caller to a staff member."},
	{Name: "transfer",
		French:  "Transfert de l'appel.",
		English: "Transferring the call."},
	{Name: "hold_music", Music: true,
		French:  "Musique d'attente : une boucle de moins de 30 secondes, libre de droits.",
		English: "Hold music: a loop under 30 seconds, free of rights."},
}

// Recordables returns the prompts the club may record, those offered by
// phone first, in the phone's order.
func Recordables() []Recordable { return slices.Clone(recordables) }

func recordable(name string) (Recordable, bool) {
	i := slices.IndexFunc(recordables, func(r Recordable) bool { return r.Name == name })
	if i < 0 {
		return Recordable{}, false
	}
	return recordables[i], true
}
