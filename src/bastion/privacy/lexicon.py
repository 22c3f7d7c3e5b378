"""Word lists the recognisers use: health terms, street types, context words.

Health terms are generic medical vocabulary (conditions, medications, procedures);
a term alone is not personal data: it becomes PHI when the same text also identifies
a person (see :mod:`bastion.privacy.health`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CONDITIONS = """
diabetes; type 1 diabetes; type 2 diabetes; prediabetes; hypertension; high blood pressure;
hypotension; asthma; copd; emphysema; bronchitis; pneumonia; tuberculosis; covid-19; covid;
influenza; hiv; aids; hepatitis; hepatitis b; hepatitis c; cirrhosis; cancer; leukemia;
leukaemia; lymphoma; melanoma; carcinoma; sarcoma; tumor; tumour; breast cancer;
prostate cancer; lung cancer; colon cancer; metastasis; chemotherapy; radiotherapy;
alzheimer's; alzheimers; alzheimer; dementia; parkinson's; parkinsons; epilepsy; seizure;
seizures; migraine; migraines; stroke; heart attack; myocardial infarction; heart failure;
heart disease; coronary artery disease; arrhythmia; atrial fibrillation; angina;
depression; major depressive disorder; anxiety; anxiety disorder; bipolar disorder;
bipolar; schizophrenia; ptsd; ocd; adhd; autism; anorexia; bulimia; eating disorder;
insomnia; sleep apnea; substance abuse; alcoholism; addiction; opioid use disorder;
overdose; suicidal; self-harm; multiple sclerosis; lupus; rheumatoid arthritis;
arthritis; osteoarthritis; osteoporosis; fibromyalgia; crohn's disease; crohn's;
ulcerative colitis; celiac disease; irritable bowel syndrome; ibs; gerd; kidney disease;
chronic kidney disease; renal failure; dialysis; liver disease; thyroid disease;
hypothyroidism; hyperthyroidism; obesity; anemia; anaemia; sickle cell; hemophilia;
cystic fibrosis; down syndrome; cerebral palsy; glaucoma; cataract; cataracts;
macular degeneration; hearing loss; std; sti; chlamydia; gonorrhea; syphilis; herpes; hpv;
pregnant; pregnancy; miscarriage; abortion; infertility; endometriosis; pcos; menopause;
erectile dysfunction; allergy; allergies; eczema; psoriasis; acne; sepsis; infection;
fracture; concussion; traumatic brain injury; spinal cord injury; paralysis; amputation;
disability; chronic pain; back pain; scoliosis; hernia; appendicitis; gallstones;
kidney stones; ulcer; gout; measles; mumps; chickenpox; shingles; malaria; dengue; ebola;
""".strip()

MEDICATIONS = """
insulin; metformin; ozempic; semaglutide; wegovy; mounjaro; lisinopril; amlodipine;
losartan; atorvastatin; simvastatin; rosuvastatin; statin; statins; warfarin; heparin;
apixaban; eliquis; xarelto; clopidogrel; aspirin; ibuprofen; acetaminophen; paracetamol;
naproxen; oxycodone; hydrocodone; morphine; fentanyl; codeine; tramadol; methadone;
buprenorphine; suboxone; naloxone; prednisone; prednisolone; cortisone; albuterol;
salbutamol; inhaler; levothyroxine; synthroid; omeprazole; pantoprazole; sertraline;
zoloft; fluoxetine; prozac; citalopram; escitalopram; lexapro; paroxetine; venlafaxine;
duloxetine; bupropion; wellbutrin; trazodone; mirtazapine; lithium; lamotrigine;
valproate; quetiapine; seroquel; olanzapine; risperidone; aripiprazole; abilify;
haloperidol; clozapine; diazepam; valium; lorazepam; ativan; alprazolam; xanax;
clonazepam; zolpidem; ambien; methylphenidate; ritalin; adderall; amphetamine;
gabapentin; pregabalin; lyrica; levetiracetam; keppra; topiramate; sumatriptan;
amoxicillin; penicillin; azithromycin; doxycycline; ciprofloxacin; antibiotics;
antibiotic; antidepressant; antidepressants; antipsychotic; antipsychotics;
chemo; tamoxifen; herceptin; keytruda; methotrexate; humira; adalimumab; prep; truvada;
antiretroviral; antiretrovirals; viagra; sildenafil; cialis; finasteride;
birth control; contraceptive; estrogen; testosterone; hormone therapy; epipen;
""".strip()

PROCEDURES = """
surgery; operation; biopsy; mri; ct scan; cat scan; x-ray; ultrasound; mammogram;
colonoscopy; endoscopy; angioplasty; bypass surgery; heart surgery; transplant;
kidney transplant; liver transplant; mastectomy; lumpectomy; hysterectomy; vasectomy;
c-section; caesarean; appendectomy; tonsillectomy; knee replacement; hip replacement;
physical therapy; physiotherapy; psychotherapy; therapy session; rehab; rehabilitation;
blood test; blood work; lab results; test results; diagnosis; diagnosed; prognosis;
prescription; prescribed; hospitalized; hospitalised; admitted to hospital; icu;
emergency room; er visit; ivf; vaccination; vaccine; chemotherapy session;
radiation therapy; dialysis session; stent; pacemaker; ecg; ekg; eeg; pet scan;
""".strip()


def words(block: str) -> list[str]:
    """The whitespace-separated words of a block of text."""
    return block.split()


def terms(block: str) -> list[str]:
    return [t.strip() for t in block.replace("\n", " ").split(";") if t.strip()]


HEALTH_TERMS: tuple[str, ...] = tuple(dict.fromkeys(
    terms(CONDITIONS) + terms(MEDICATIONS) + terms(PROCEDURES)))

# Street types in English and other languages (word that follows or precedes a name).
STREET_TYPES_EN = words("""
street st avenue ave road rd boulevard blvd lane ln drive dr court ct place pl way terrace
parkway pkwy circle cir highway hwy square sq crescent cres close row alley trail trl
grove gardens mews walk hill heights ridge loop run pike turnpike expressway freeway
""")
STREET_TYPES_PREFIX = words("""
rue avenue av avenida av. calle carrer via viale piazza piazzale plaza praça rua rambla
paseo camino chemin boulevard bd allée allee impasse quai corso largo ulica ul strada
""")
# Compound suffixes: Hauptstraße, Koskikatu, Storgatan, Kerkstraat, Nørregade, …
STREET_SUFFIXES = words("""
straße strasse str gasse weg platz allee ring damm ufer chaussee katu tie kuja polku
gatan vägen väg gränd torget vej gade straat laan plein gracht kade singel utca tér
ulice náměstí
""")
UNIT_WORDS = words("apt apartment suite ste unit flat floor fl room rm bldg building #")

CONTEXT = {
    "CREDIT_CARD": words("card credit debit visa mastercard amex cc payment billing expires"),
    "US_SSN": words("ssn social security ss# taxpayer"),
    "PHONE": words("phone tel telephone mobile cell call fax desk contact reach text sms answering "
                   "whatsapp number dial office landline"),
    "IBAN": words("iban account bank transfer wire sepa"),
    "DATE_OF_BIRTH": words("born birth dob d.o.b birthday birthdate"),
    "IP_ADDRESS": words("ip address host server client connect from"),
}
# Words before a number that make it something other than a phone number.
NOT_PHONE = words("order invoice ref reference ticket id case tracking serial version build "
                  "isbn po item sku account acct iban amount total price zip postcode")

# Capitalised words that are not names (sentence starters, function words, titles of
# days and months are left to the model).
COMMON_CAPITALISED = frozenset(words("""
a an the i i'm i've i'd i'll my me we our us you your he his she her it its they their
this that these those there here what when where why who whom whose which how if then
else and or but so because although though while as at by for from in into of on onto
to with without about above after again against all am any are aren't be been before
being below between both can can't could couldn't did didn't do does doesn't doing
don't down during each few further had hadn't has hasn't have haven't having hello hi
hey dear thanks thank please yes no not now just only own same some such than too very
will would should shall may might must also could let let's ok okay well sure sorry
great good new old first last next one two three four five six seven eight nine ten
is was were isn't wasn't weren't need needs want wants like get got give make made
tell told say said ask asked send sent write wrote find found check use used call
see look help note note: regards best cheers kind sincerely hope today tomorrow
yesterday every many much more most other another same still even ever never always
create discuss compose remember begin ignore explain ensure affirm design customize
customise provide describe draw explore reflect craft translate initialize initialise
pretend summarize summarise generate list write give show compare analyze analyse
suggest recommend imagine consider review edit fix rewrite convert calculate define
identify outline plan prepare propose continue start stop add remove update delete
search build implement answer respond act assume classify evaluate extract format draft
improve optimize optimise simplify solve test verify additionally however therefore
moreover furthermore finally second third system assistant user question example
input output important warning error step task goal context instructions summary
"""))


Trie = dict[str, "Trie"]


def trie_pattern(phrases: Iterable[str]) -> str:
    """A regex for a set of literal phrases, factored by common prefixes, so a large
    word list costs a few character tests per position instead of one per word."""
    trie: Trie = {}
    for w in phrases:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: Trie) -> str:
        end = "" in node
        alts = []
        for ch in sorted(k for k in node if k):
            alts.append(re.escape(ch) + build(node[ch]))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if end:
            return "(?:" + body + ")?"
        return body

    return build(trie)
