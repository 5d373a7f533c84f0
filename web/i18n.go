package web

// The page's words, in the club's two languages. A key missing in one
// language shows the French.
var words = map[string]map[string]string{
	"fr": {
		"title": "Ligne du club", "now": "Maintenant", "messages": "Messages", "calls": "Appels", "recordings": "Enregistrements",
		"privacy": "Vie privée", "signout": "Se déconnecter", "signin": "Se connecter", "user": "Identifiant", "password": "Mot de passe",
		"open": "Ouvert", "closed": "Fermé", "next": "Prochain changement", "override": "Forçage", "auto": "Automatique (horaire)",
		"probe": "Appel mystère", "probe_now": "Appeler la ligne maintenant", "probe_wait": "La ligne s'appelle elle-même (jusqu'à une minute)…",
		"force_open": "Forcer ouvert", "force_closed": "Forcer fermé", "changed_by": "changé par", "oncall": "De garde",
		"nobody": "personne", "phones": "Téléphones du personnel", "registered": "connecté", "not_registered": "non connecté",
		"busy": "en appel", "trunks": "Fournisseur (trunk)", "live": "Appels en cours", "none": "Aucun", "stage": "Étape",
		"waiting": "attente", "followups": "Messages à traiter", "overdue": "en retard", "open_msgs": "À traiter", "done_msgs": "Traités",
		"from": "De", "category": "Sujet", "received": "Reçu", "due": "À rappeler avant", "urgent": "URGENT", "duration": "Durée",
		"assign": "Assigner à", "note": "Note", "add_note": "Ajouter la note", "mark_done": "Marquer traité", "reopen": "Rouvrir",
		"download": "Télécharger", "done_by": "Traité par", "no_messages": "Aucun message à traiter.", "day": "Jour",
		"outcome": "Issue", "all": "Tous", "filter": "Filtrer", "answered_by": "Répondu par", "wait": "Attente", "history": "Historique",
		"trace": "Parcours", "time": "Heure", "no_calls": "Aucun appel.", "prompt": "Message", "in_use": "En service",
		"upload": "Téléverser", "restore": "Rétablir", "versions": "Versions", "current": "actuelle", "number": "Numéro de l'appelant",
		"export": "Exporter ses données", "erase": "Effacer ses données", "erase_confirm": "Effacer définitivement tout ce qui concerne ce numéro ?",
		"privacy_help":    "Loi 25 : un appelant peut obtenir ou faire effacer ce que la ligne garde sur lui (appels, messages, notes).",
		"record_by_phone": "Pour enregistrer par téléphone, composez *77 depuis votre poste.", "nobody_assigned": "personne",
		"wrong_login": "Identifiant ou mot de passe incorrect.", "language": "English", "notes": "Notes", "status": "État",
		"answered": "répondu", "voicemail": "message", "abandoned": "raccroché", "rejected": "refusé", "failed": "échec",
		"report": "Rapport des 7 derniers jours", "followed_by": "suivi", "admin_only": "Réservé aux administrateurs.", "audit": "Journal d'accès",
		"category_registrations": "Inscriptions", "category_programs": "Programmes", "category_schedules": "Horaires et tournois",
		"category_equipment": "Équipement", "category_coaching": "Entraîneurs", "category_sponsors": "Commandites",
		"category_development": "Développement", "category_urgent": "Urgence", "category_message": "Message",
	},
	"en": {
		"title": "Club line", "now": "Now", "messages": "Messages", "calls": "Calls", "recordings": "Recordings",
		"privacy": "Privacy", "signout": "Sign out", "signin": "Sign in", "user": "Staff id", "password": "Password",
		"open": "Open", "closed": "Closed", "next": "Next change", "override": "Override", "auto": "Automatic (schedule)",
		"probe": "Mystery call", "probe_now": "Call the line now", "probe_wait": "The line is calling itself (up to a minute)…",
		"force_open": "Force open", "force_closed": "Force closed", "changed_by": "changed by", "oncall": "On call",
		"nobody": "nobody", "phones": "Staff phones", "registered": "registered", "not_registered": "not registered",
		"busy": "on a call", "trunks": "Provider (trunk)", "live": "Calls in progress", "none": "None", "stage": "Stage",
		"waiting": "waiting", "followups": "Messages to handle", "overdue": "overdue", "open_msgs": "To handle", "done_msgs": "Handled",
		"from": "From", "category": "About", "received": "Received", "due": "Call back by", "urgent": "URGENT", "duration": "Length",
		"assign": "Assign to", "note": "Note", "add_note": "Add note", "mark_done": "Mark done", "reopen": "Reopen",
		"download": "Download", "done_by": "Handled by", "no_messages": "No message waiting.", "day": "Day",
		"outcome": "Outcome", "all": "All", "filter": "Filter", "answered_by": "Answered by", "wait": "Wait", "history": "History",
		"trace": "Path", "time": "Time", "no_calls": "No calls.", "prompt": "Prompt", "in_use": "In use",
		"upload": "Upload", "restore": "Restore", "versions": "Versions", "current": "current", "number": "Caller's number",
		"export": "Export their data", "erase": "Erase their data", "erase_confirm": "Permanently erase everything about this number?",
		"privacy_help":    "Law 25: a caller may obtain, or have erased, what the line keeps about them (calls, messages, notes).",
		"record_by_phone": "To record by phone, dial *77 from your desk phone.", "nobody_assigned": "nobody",
		"wrong_login": "Wrong staff id or password.", "language": "Français", "notes": "Notes", "status": "Status",
		"answered": "answered", "voicemail": "message", "abandoned": "hung up", "rejected": "refused", "failed": "failed",
		"report": "Report of the last 7 days", "followed_by": "followed up", "admin_only": "Admins only.", "audit": "Access log",
		"category_registrations": "Registrations", "category_programs": "Programs", "category_schedules": "Schedules and tournaments",
		"category_equipment": "Equipment", "category_coaching": "Coaching", "category_sponsors": "Sponsors",
		"category_development": "Development", "category_urgent": "Urgent", "category_message": "Message",
	},
}

// CategoryLabel is a call's category in words, in lang ("fr", "en"): the
// built-in ones translated, a club's own as written. The e-mails say it
// the same way.
func CategoryLabel(lang, c string) string { return category(lang, c) }

// category is a call's category as the page shows it: the built-in ones
// translated, a club's own as written.
func category(lang, c string) string {
	if c == "" {
		return ""
	}
	if w := word(lang, "category_"+c); w != "category_"+c {
		return w
	}
	return c
}

func word(lang, key string) string {
	if w, ok := words[lang][key]; ok {
		return w
	}
	if w, ok := words["fr"][key]; ok {
		return w
	}
	return key
}
