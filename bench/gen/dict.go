package gen

import (
	"math"
	"math/rand/v2"
	"strings"
)

// Dict is the dictionary of a code column: code c means Dict[c].
type Dict []string

// Code returns the code of s, or -1 if s is not in the dictionary.
func (d Dict) Code(s string) int {
	for i, v := range d {
		if v == s {
			return i
		}
	}
	return -1
}

// Null codes: the all-ones code of a code column is SQL NULL.
const (
	Null8  = uint8(math.MaxUint8)
	Null16 = uint16(math.MaxUint16)
)

// Countries are ISO 3166-1 alpha-2 codes in popularity order: country
// shares follow Zipf(s=1) over this order (US ≈ 17%, ES, rank 5, ≈ 3.4%).
var countryCodes = strings.Fields(`
US IN BR GB ES DE FR MX IT CA ID TR AR PL NL CO PH JP KR AU VN TH RU EG NG
ZA PK BD SA AE CL PE PT SE BE CH AT IE DK NO FI GR CZ RO HU UA IL MY SG NZ
HK TW KE MA DZ TN GH ET VE EC GT DO CR PA UY PY BO HN SV NI CU PR JM TT LK
NP MM KH LA MN KZ UZ AZ GE AM BY LT LV EE SK SI HR RS BA ME MK AL BG MD IS
LU MT CY QA KW BH OM JO LB IQ IR SY YE AF SN CI CM UG TZ RW ZM ZW MZ AO NA
BW MG MU ML BF NE TD SD SS SO DJ ER GA CG CD CF GQ GN GW SL LR TG BJ GM MR
CV ST SC KM LS SZ MW BI BT MV BN TL PG FJ SB VU WS TO KI TV NR FM MH PW HT
BS BB BZ GY SR AG DM GD KN LC VC AD MC SM LI VA GL FO GI IM JE GG AW CW SX
BM KY VG TC AI MS GU AS MP NC PF RE GP MQ GF YT`)

// Languages (ISO 639-1). A person speaks their country's language with
// probability 0.85, English with 0.10, anything else with 0.05.
var languageCodes = strings.Fields(`en es pt fr de it nl pl tr ru ja ko zh hi id vi th ar sv da no fi el cs ro hu uk he ms fa`)

var countryLanguage = map[string]string{
	"ES": "es", "MX": "es", "AR": "es", "CO": "es", "CL": "es", "PE": "es", "VE": "es", "EC": "es", "GT": "es",
	"DO": "es", "CR": "es", "PA": "es", "UY": "es", "PY": "es", "BO": "es", "HN": "es", "SV": "es", "NI": "es",
	"CU": "es", "PR": "es", "BR": "pt", "PT": "pt", "AO": "pt", "MZ": "pt", "FR": "fr", "BE": "fr", "SN": "fr",
	"CI": "fr", "CM": "fr", "MA": "ar", "DZ": "ar", "TN": "ar", "EG": "ar", "SA": "ar", "AE": "ar", "QA": "ar",
	"KW": "ar", "BH": "ar", "OM": "ar", "JO": "ar", "LB": "ar", "IQ": "ar", "SY": "ar", "YE": "ar", "DE": "de",
	"AT": "de", "CH": "de", "LU": "fr", "IT": "it", "SM": "it", "VA": "it", "NL": "nl", "PL": "pl", "TR": "tr",
	"RU": "ru", "BY": "ru", "KZ": "ru", "UA": "uk", "JP": "ja", "KR": "ko", "HK": "zh", "TW": "zh", "SG": "en",
	"IN": "hi", "ID": "id", "VN": "vi", "TH": "th", "SE": "sv", "DK": "da", "NO": "no", "FI": "fi", "GR": "el",
	"CY": "el", "CZ": "cs", "RO": "ro", "MD": "ro", "HU": "hu", "IL": "he", "MY": "ms", "IR": "fa", "AF": "fa",
}

// Real city names for the biggest countries; the rest are synthetic.
var realCities = map[string][]string{
	"US": {"New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio", "San Diego", "Dallas", "Austin", "Seattle", "Boston", "Denver", "Miami", "Atlanta"},
	"IN": {"Mumbai", "Delhi", "Bengaluru", "Hyderabad", "Chennai", "Kolkata", "Pune", "Ahmedabad", "Jaipur", "Lucknow"},
	"BR": {"Sao Paulo", "Rio de Janeiro", "Brasilia", "Salvador", "Fortaleza", "Belo Horizonte", "Manaus", "Curitiba", "Recife", "Porto Alegre"},
	"GB": {"London", "Birmingham", "Manchester", "Glasgow", "Leeds", "Liverpool", "Bristol", "Edinburgh", "Sheffield", "Cardiff"},
	"ES": {"Madrid", "Barcelona", "Valencia", "Sevilla", "Zaragoza", "Malaga", "Bilbao", "Murcia", "Palma", "Alicante", "Granada", "Vigo"},
	"DE": {"Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt", "Stuttgart", "Dusseldorf", "Leipzig", "Dortmund", "Bremen"},
	"FR": {"Paris", "Marseille", "Lyon", "Toulouse", "Nice", "Nantes", "Strasbourg", "Montpellier", "Bordeaux", "Lille"},
	"MX": {"Mexico City", "Guadalajara", "Monterrey", "Puebla", "Tijuana", "Leon", "Merida", "Cancun"},
	"IT": {"Rome", "Milan", "Naples", "Turin", "Palermo", "Genoa", "Bologna", "Florence"},
	"CA": {"Toronto", "Montreal", "Vancouver", "Calgary", "Edmonton", "Ottawa"},
}

var firstNameSeeds = strings.Fields(`
James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan
Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony Sandra Mark Ashley Paul
Emily Steven Donna Andrew Michelle Joshua Carol Kevin Amanda Brian Melissa George Deborah Maria Jose
Juan Carmen Antonio Ana Manuel Laura Francisco Lucia Javier Marta Carlos Elena Pablo Sofia Diego
Paula Alejandro Sara Miguel Julia Luis Alba Pedro Irene Jorge Claudia Sergio Raquel Ahmed Fatima
Mohammed Aisha Wei Li Yuki Hana Raj Priya Arjun Ananya Lucas Gabriel Noah Emma Liam Olivia Hugo Chloe
Leon Mia Luca Giulia Matteo Chiara Jan Anna Piotr Zofia Ivan Olga Mehmet Elif Kenji Sakura`)

var lastNameSeeds = strings.Fields(`
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark
Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams
Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Fernandez Gomez Diaz Moreno Alvarez Romero
Navarro Ruiz Serrano Molina Castro Ortega Rubio Delgado Ortiz Marin Iglesias Santos Costa Silva
Pereira Oliveira Rossi Russo Ferrari Esposito Bianchi Romano Muller Schmidt Schneider Fischer Weber
Meyer Wagner Becker Dubois Durand Leroy Moreau Kowalski Nowak Ivanov Petrov Yilmaz Kaya Tanaka Suzuki
Sato Kim Park Choi Wang Zhang Liu Chen Singh Kumar Sharma Patel Khan Ali Hassan Jansen Devries`)

var syllables = strings.Fields(`ka ri lo ma ne sa to vi da le mo ra ni co be ta ru li no se ga mi lu fe ro an el or in ar en ul`)

var nameSuffixes = strings.Fields(`a o e ia io an en on er el ina ita son sen ez es is us ov ova ski ini etti ard ton ley ford`)

var emailFreeDomains = []weighted{
	{"gmail.com", 340}, {"yahoo.com", 95}, {"hotmail.com", 85}, {"outlook.com", 70}, {"icloud.com", 55},
	{"live.com", 20}, {"aol.com", 15}, {"gmx.de", 20}, {"web.de", 12}, {"yahoo.es", 15}, {"hotmail.es", 15},
	{"orange.fr", 14}, {"free.fr", 10}, {"libero.it", 10}, {"mail.ru", 15}, {"yandex.ru", 10}, {"qq.com", 15},
	{"protonmail.com", 10}, {"acme.com", 6}, {"globex.com", 5}, {"initech.io", 4}, {"umbrella-corp.com", 4},
	{"hooli.com", 3}, {"stark.industries", 2},
}

var plans = []weighted{{"free", 700}, {"basic", 180}, {"pro", 90}, {"enterprise", 30}}
var planLTVFactor = []float64{0.5, 1, 2.5, 6}

var genders = []weighted{{"female", 480}, {"male", 470}, {"non_binary", 10}} // + NULL 40

// Event names with their weight per 1000 events.
var eventNames = []weighted{
	{"page_view", 210}, {"screen_view", 170}, {"app_open", 100}, {"session_start", 90}, {"click", 80},
	{"view_item", 60}, {"search", 50}, {"email_open", 45}, {"login", 40}, {"push_open", 35},
	{"add_to_cart", 30}, {"purchase", 20}, {"begin_checkout", 15}, {"logout", 15}, {"email_click", 12},
	{"share", 10}, {"remove_from_cart", 8}, {"subscription_renewed", 5}, {"signup", 4}, {"app_uninstalled", 1},
}

var platforms = []weighted{{"ios", 350}, {"android", 450}, {"web", 200}}

var currencies = []weighted{
	{"EUR", 380}, {"USD", 340}, {"GBP", 80}, {"BRL", 40}, {"MXN", 35}, {"INR", 35}, {"JPY", 25},
	{"CAD", 20}, {"AUD", 15}, {"CHF", 10},
}

var companyPrefixes = strings.Fields(`Acme Globex Initech Umbrella Hooli Stark Wayne Wonka Soylent Cyberdyne Tyrell Aperture Massive Vandelay Pied Gringotts Oceanic Dunder Prestige Monarch`)
var companySuffixes = strings.Fields(`Corp Inc Labs Systems Group Holdings Media Logistics Foods Energy Bank Health Retail Software Capital`)

type weighted struct {
	s string
	w float64
}

func names(ws []weighted) Dict {
	d := make(Dict, len(ws))
	for i, w := range ws {
		d[i] = w.s
	}
	return d
}

func weights(ws []weighted) []float64 {
	f := make([]float64, len(ws))
	for i, w := range ws {
		f[i] = w.w
	}
	return f
}

func zipfWeights(n int, s float64) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+1), s)
	}
	return w
}

// dictRand is the fixed source of the synthetic dictionaries: they do not
// depend on Options.Seed.
func dictRand() *rand.Rand { return rand.New(rand.NewPCG(0x636f686f7274, 0x64696374)) }

// synthName makes a capitalised pseudo-name of 2-3 syllables plus a suffix.
func synthName(r *rand.Rand) string {
	var b strings.Builder
	n := 2 + r.IntN(2)
	for range n {
		b.WriteString(syllables[r.IntN(len(syllables))])
	}
	b.WriteString(nameSuffixes[r.IntN(len(nameSuffixes))])
	s := b.String()
	return strings.ToUpper(s[:1]) + s[1:]
}

// extend pads seeds with unique synthetic names up to n entries.
func extend(seeds []string, n int, r *rand.Rand) Dict {
	seen := make(map[string]bool, n)
	d := make(Dict, 0, n)
	for _, s := range seeds {
		if !seen[s] {
			seen[s] = true
			d = append(d, s)
		}
	}
	for len(d) < n {
		s := synthName(r)
		if !seen[s] {
			seen[s] = true
			d = append(d, s)
		}
	}
	return d
}

// dicts holds the fixed dictionaries and their samplers.
type dicts struct {
	country, language, city, firstName, lastName, emailDomain Dict
	plan, gender, company, referral                           Dict
	event, platform, appVersion, currency                     Dict

	// lower-case ASCII first/last names for email local parts.
	firstLower, lastLower []string
	// countryLang[c] is the language code of country c.
	countryLang []uint8
	// cityOf[c] samples a city code of country c.
	cityOf []sampler16

	countryS, firstS, lastS, domainS, planS, genderS, eventS, platformS, appVersionS, currencyS sampler16
	referralS, companyS                                                                         sampler16
}

const (
	numFirstNames = 500
	numLastNames  = 1000
	numCities     = 2000
	numReferrals  = 20000
	numVersions   = 30
)

var theDicts = buildDicts()

func buildDicts() *dicts {
	r := dictRand()
	d := &dicts{}
	d.country = Dict(countryCodes)
	d.language = Dict(languageCodes)
	d.countryS = newSampler16(zipfWeights(len(d.country), 1.0))

	d.countryLang = make([]uint8, len(d.country))
	for i, c := range d.country {
		l, ok := countryLanguage[c]
		if !ok {
			l = "en"
		}
		d.countryLang[i] = uint8(d.language.Code(l))
	}

	// Cities: each country gets cities in proportion to sqrt(share), at
	// least one; names are real for the biggest countries, synthetic
	// otherwise; within a country city popularity is Zipf(1.1).
	cw := zipfWeights(len(d.country), 0.5)
	var sum float64
	for _, w := range cw {
		sum += w
	}
	seen := map[string]bool{}
	d.cityOf = make([]sampler16, len(d.country))
	for ci, c := range d.country {
		n := max(1, int(math.Round(float64(numCities-len(d.country))*cw[ci]/sum))+1)
		codes := make([]uint16, 0, n)
		for _, name := range realCities[c] {
			if len(codes) == n {
				break
			}
			if !seen[name] {
				seen[name] = true
				codes = append(codes, uint16(len(d.city)))
				d.city = append(d.city, name)
			}
		}
		for len(codes) < n {
			name := synthName(r)
			if !seen[name] {
				seen[name] = true
				codes = append(codes, uint16(len(d.city)))
				d.city = append(d.city, name)
			}
		}
		s := newSampler16Bits(zipfWeights(n, 1.1), 12)
		for i, v := range s.tab {
			s.tab[i] = codes[v]
		}
		d.cityOf[ci] = s
	}

	d.firstName = extend(firstNameSeeds, numFirstNames, r)
	d.lastName = extend(lastNameSeeds, numLastNames, r)
	d.firstS = newSampler16(zipfWeights(len(d.firstName), 0.9))
	d.lastS = newSampler16(zipfWeights(len(d.lastName), 0.8))
	d.firstLower = lowerAll(d.firstName)
	d.lastLower = lowerAll(d.lastName)

	d.emailDomain = names(emailFreeDomains)
	d.domainS = newSampler16(weights(emailFreeDomains))
	d.plan, d.planS = names(plans), newSampler16(weights(plans))
	d.gender, d.genderS = names(genders), newSampler16(weights(genders))
	d.event, d.eventS = names(eventNames), newSampler16(weights(eventNames))
	d.platform, d.platformS = names(platforms), newSampler16(weights(platforms))
	d.currency, d.currencyS = names(currencies), newSampler16(weights(currencies))

	// App versions 5.0.0 .. 7.9.x, newest most used.
	for i := range numVersions {
		major := 7 - i/10
		minor := 9 - i%10
		d.appVersion = append(d.appVersion, itoa(major)+"."+itoa(minor)+".0")
	}
	d.appVersionS = newSampler16(zipfWeights(numVersions, 1.2))

	for _, p := range companyPrefixes {
		for _, s := range companySuffixes {
			d.company = append(d.company, p+" "+s)
		}
	}
	d.companyS = newSampler16(zipfWeights(len(d.company), 0.7))

	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	seenRef := make(map[string]bool, numReferrals)
	for len(d.referral) < numReferrals {
		b := []byte("REF-000000")
		for i := 4; i < len(b); i++ {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if s := string(b); !seenRef[s] {
			seenRef[s] = true
			d.referral = append(d.referral, s)
		}
	}
	d.referralS = newSampler16(zipfWeights(numReferrals, 0.6))
	return d
}

func lowerAll(d Dict) []string {
	out := make([]string, len(d))
	for i, s := range d {
		out[i] = strings.ReplaceAll(strings.ToLower(s), " ", "")
	}
	return out
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// sampler16 draws a category in O(1) from 16 (or fewer) random bits: the
// table holds each category in proportion to its weight (quantised to
// 1/len(tab)); every category with a positive weight gets at least one slot.
type sampler16 struct {
	tab  []uint16
	mask uint64
}

func newSampler16(w []float64) sampler16 { return newSampler16Bits(w, 16) }

func newSampler16Bits(w []float64, bits uint) sampler16 {
	size := 1 << bits
	var sum float64
	for _, v := range w {
		sum += v
	}
	// Largest-remainder allocation of slots, at least one per category.
	slots := make([]int, len(w))
	total := 0
	for i, v := range w {
		slots[i] = max(1, int(float64(size)*v/sum))
		total += slots[i]
	}
	for i := 0; total > size; i = (i + 1) % len(w) {
		if slots[i] > 1 {
			slots[i]--
			total--
		}
	}
	for i := 0; total < size; i = (i + 1) % len(w) {
		slots[i]++
		total++
	}
	tab := make([]uint16, 0, size)
	for i, n := range slots {
		for range n {
			tab = append(tab, uint16(i))
		}
	}
	return sampler16{tab: tab, mask: uint64(size - 1)}
}

// pick maps the low bits of u to a category.
func (s *sampler16) pick(u uint64) uint16 { return s.tab[u&s.mask] }
