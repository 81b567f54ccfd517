"""A long multi-session chat history of our own making, for measuring recall.

Pairs of friends talk over many dated sessions (threads of turns: `thread`, `speaker`,
`at`). Most turns are small talk; among them, facts are stated once — a new pet, a cousin
who moved, a class that started, a job that changed — and asked about later in other
words: a paraphrase, by a person's name, by a date, about a fact that changed (the newer
turn answers), or answered in a short reply whose meaning lies in the turn before it.
Distractor turns talk about the same kinds of things with other specifics. A document
corpus (notes with a few facts each) rides along, with its own questions.

Everything is generated from a seed: the same seed, the same corpus. No model wrote it, so
no model's phrasing is favoured.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

PEOPLE = [
    ("Caroline", "Melanie"),
    ("Jon", "Gina"),
    ("Priya", "Tomasz"),
    ("Aiko", "Ruben"),
    ("Lena", "Oscar"),
    ("Nadia", "Felix"),
    ("Sofia", "Kwame"),
    ("Ines", "Marek"),
]
PETS = [
    ("greyhound", "dog", "Biscuit"),
    ("tabby kitten", "cat", "Miso"),
    ("cockatiel", "bird", "Pepper"),
    ("bearded dragon", "lizard", "Ziggy"),
    ("border collie", "dog", "Juniper"),
    ("rabbit", "bunny", "Clover"),
]
CITIES = [
    "Lisbon",
    "Osaka",
    "Montreal",
    "Tbilisi",
    "Valparaiso",
    "Reykjavik",
    "Kraków",
    "Nairobi",
    "Hobart",
    "Ljubljana",
]
RELATIVES = ["cousin", "sister", "uncle", "grandmother", "brother-in-law", "niece"]
RELATIVE_NAMES = ["Anya", "Bram", "Chidi", "Dolores", "Emeka", "Farah", "Gustav", "Hana"]
CLASSES = [
    ("pottery", "ceramics", "wheel-throwing"),
    ("salsa", "dance", "salsa dancing"),
    ("Italian", "language", "speaking Italian"),
    ("woodworking", "carpentry", "building furniture"),
    ("watercolour", "painting", "painting landscapes"),
    ("climbing", "bouldering", "indoor climbing"),
]
JOBS = [
    ("the bakery on Elm Street", "baking bread"),
    ("a bike repair shop", "fixing bikes"),
    ("the public library", "shelving books"),
    ("a dental clinic", "the front desk"),
    ("a startup that makes solar lamps", "marketing"),
    ("the city aquarium", "feeding the penguins"),
]
NEW_JOBS = [
    "teaching yoga",
    "driving a tram",
    "running a food truck",
    "translating novels",
    "training guide dogs",
    "restoring old pianos",
]
INJURIES = [
    ("ankle", "a sprain", "nothing broken, just a sprain"),
    ("wrist", "a hairline fracture", "a tiny fracture, a cast for three weeks"),
    ("knee", "a torn ligament", "the ligament is torn, physio for a month"),
    ("shoulder", "a pulled muscle", "only a pulled muscle, rest and ice"),
]
DISHES = [
    "a lentil curry",
    "mushroom risotto",
    "a plum tart",
    "cold soba noodles",
    "shakshuka",
    "a pumpkin pie",
    "fish tacos",
    "spinach dumplings",
]
BOOKS = [
    ("a mystery set on a lighthouse", "lighthouse mystery"),
    ("a biography of a chess champion", "chess biography"),
    ("a novel about a family of beekeepers", "beekeeping novel"),
    ("a history of the Silk Road", "Silk Road history"),
]
SMALL_TALK = [
    "Hey! How has your week been?",
    "Pretty busy, but good. Yours?",
    "Haha, same here.",
    "That sounds fun!",
    "Oh no, that's rough.",
    "I know, right?",
    "Totally agree with you.",
    "The weather has been so grey lately.",
    "I slept in this morning, it was lovely.",
    "Work has been hectic, lots of meetings.",
    "I should really get more exercise.",
    "Did you watch anything good recently?",
    "I started a new series, it's okay so far.",
    "We should grab coffee sometime.",
    "I cleaned the whole flat on Sunday.",
    "My phone battery dies so fast these days.",
    "I tried a new recipe, it went okay.",
    "The traffic this morning was terrible.",
    "I'm thinking of repainting the kitchen.",
    "Thanks for asking, I'm doing fine.",
    "Let's catch up properly next week.",
    "I've been listening to a lot of podcasts.",
    "My neighbour's music was loud again.",
    "I finally fixed the leaking tap.",
    "It's been ages since I went to the cinema.",
    "I'm so tired today, long night.",
    "That's great news, congrats!",
    "I can't believe it's already this month.",
    "Same old, same old.",
    "Talk soon!",
]
DISTRACTORS = [
    "My friend's {pet} keeps chewing the furniture.",
    "I saw a {pet} at the park today.",
    "Someone at work just moved to {city}.",
    "I'd love to visit {city} one day.",
    "There's a {cls} workshop near my office, maybe someday.",
    "My colleague makes amazing {dish}.",
    "I read a review of {book} but haven't started it.",
    "A friend twisted her {part} playing football last year.",
    "The {job} near me is hiring, apparently.",
    "Have you ever been to {city}?",
]


@dataclass
class Turn:
    thread: str
    speaker: str
    at: str
    content: str
    key: str  # stable id: thread + index

    def memory(self) -> dict:
        return {
            "kind": "turn",
            "content": self.content,
            "metadata": {"thread": self.thread, "speaker": self.speaker, "at": self.at},
        }


@dataclass
class Question:
    text: str
    evidence: list[str]  # the keys of the turns (or document passages) that answer it
    kind: str  # paraphrase | name | date | changed | reply | document


@dataclass
class Corpus:
    turns: list[Turn] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    documents: list[dict] = field(default_factory=list)  # {"title", "text", "facts": {...}}


class _Writer:
    def __init__(self, rng: random.Random, pair: tuple[str, str], start: datetime) -> None:
        self.rng, self.pair, self.when = rng, pair, start
        self.sessions: list[list[Turn]] = []

    def new_session(self, number: int) -> None:
        self.when += timedelta(days=self.rng.randint(4, 16), hours=self.rng.randint(0, 8))
        self.sessions.append([])
        self.number = number

    @property
    def thread(self) -> str:
        return f"{self.pair[0].lower()}-{self.pair[1].lower()}-session-{self.number}"

    def say(self, speaker: str, content: str) -> str:
        session = self.sessions[-1]
        at = self.when + timedelta(minutes=2 * len(session))
        key = f"{self.thread}:{len(session)}"
        session.append(
            Turn(self.thread, speaker, at.isoformat().replace("+00:00", "Z"), content, key)
        )
        return key

    def chat(self, count: int, distractor: dict[str, str] | None = None) -> None:
        for i in range(count):
            speaker = self.pair[(len(self.sessions[-1]) + i) % 2]
            line = self.rng.choice(SMALL_TALK)
            if distractor and self.rng.random() < 0.25:
                line = self.rng.choice(DISTRACTORS).format(**distractor)
            self.say(speaker, line)


def _distractor(rng: random.Random) -> dict[str, str]:
    return {
        "pet": rng.choice(PETS)[0],
        "city": rng.choice(CITIES),
        "cls": rng.choice(CLASSES)[0],
        "dish": rng.choice(DISHES),
        "book": rng.choice(BOOKS)[0],
        "part": rng.choice(INJURIES)[0],
        "job": rng.choice(JOBS)[0],
    }


def _plant_pet(w: _Writer, a: str, b: str, rng: random.Random) -> list[Question]:
    breed, animal, name = rng.choice(PETS)
    w.say(b, "Anything new at home?")
    key = w.say(a, f"Yes! I adopted a {breed} from the rescue centre, we named it {name}.")
    return [
        Question(f"What kind of animal did {a} bring home from the shelter?", [key], "paraphrase"),
        Question(f"What is the name of {a}'s {animal}?", [key], "name"),
        Question(f"Which {breed} did {a} adopt?", [key], "words"),
    ]


def _plant_relative(w: _Writer, a: str, b: str, rng: random.Random) -> list[Question]:
    relative, name, city = rng.choice(RELATIVES), rng.choice(RELATIVE_NAMES), rng.choice(CITIES)
    key = w.say(a, f"My {relative} {name} just packed everything up and relocated to {city}.")
    w.say(b, "Wow, that's a big change!")
    return [
        Question(f"Where does {a}'s {relative} live now?", [key], "paraphrase"),
        Question(f"Which of {a}'s relatives moved away to {city}?", [key], "name"),
        Question(f"Who packed everything up and relocated to {city}?", [key], "words"),
    ]


def _plant_class(w: _Writer, a: str, b: str, rng: random.Random) -> list[Question]:
    name, field_, doing = rng.choice(CLASSES)
    w.say(b, "Did you end up signing up for that course?")
    key = w.say(a, f"I did, my first {name} lesson was yesterday evening and I loved it.")
    day = (w.when - timedelta(days=1)).strftime("%B %Y")
    return [
        Question(f"When did {a} start learning {doing}?", [key], "date"),
        Question(f"What {field_} course did {a} join in {day}?", [key], "date"),
        Question(f"How was {a}'s first {name} lesson?", [key], "words"),
    ]


def _state_job(w: _Writer, a: str, b: str, rng: random.Random) -> tuple[str, str]:
    place, task = rng.choice(JOBS)
    w.say(a, f"I got a job at {place}, mostly {task}.")
    w.say(b, "Congrats, that sounds like a good fit.")
    return a, place


def _change_job(w: _Writer, job: tuple[str, str], rng: random.Random) -> Question:
    """A fact that changed: the newer turn answers a question about now."""
    person, place = job
    key = w.say(
        person, f"Big news: I left {place}. I'm {rng.choice(NEW_JOBS)} now, and I'm much happier."
    )
    return Question(
        f"What does {person} do for a living these days, after leaving {place}?", [key], "changed"
    )


def _plant_injury(w: _Writer, a: str, b: str, rng: random.Random) -> list[Question]:
    part, _diagnosis, reply = rng.choice(INJURIES)
    w.say(a, f"I fell off my bike last week and hurt my {part}, I had to see a doctor.")
    w.chat(2)
    w.say(b, "Did you ever hear back about the X-ray?")
    key = w.say(a, f"Yes, {reply}.")
    return [
        Question(f"What did the doctor find out about {a}'s {part}?", [key], "reply"),
        Question(f"What did the X-ray of {a}'s {part} show?", [key], "words"),
    ]


def _plant_dish(w: _Writer, a: str, b: str, rng: random.Random) -> list[Question]:
    dish = rng.choice(DISHES)
    w.say(b, "What did you cook for the party?")
    key = w.say(a, f"I made {dish}, everyone asked for the recipe.")
    return [
        Question(f"Which dish did {a} prepare for the party?", [key], "reply"),
        Question(
            f"Which of {a}'s party dishes got everyone asking for the recipe?", [key], "words"
        ),
    ]


def _plant_book(w: _Writer, a: str, b: str, rng: random.Random) -> list[Question]:
    book, _short = rng.choice(BOOKS)
    key = w.say(a, f"I couldn't put down {book}, I finished it in two nights.")
    return [
        Question(f"What book did {a} read so quickly?", [key], "paraphrase"),
        Question(f"Which book could {a} not put down?", [key], "words"),
    ]


PLANTERS = [_plant_pet, _plant_relative, _plant_class, _plant_injury, _plant_dish, _plant_book]


def conversations(
    seed: int = 0, pairs: int = 4, sessions: int = 14, turns_per_session: int = 24
) -> Corpus:
    """`pairs` friends talking over `sessions` sessions each; facts planted among small talk,
    one a job that changes in a later session."""
    rng = random.Random(seed)
    corpus = Corpus()
    start = datetime(2023, 1, 9, 18, 0, tzinfo=UTC)
    for pair in PEOPLE[:pairs]:
        writer = _Writer(rng, pair, start + timedelta(days=rng.randint(0, 20)))
        job: tuple[str, str] | None = None
        # Each kind of fact once per person: a question then has one answer.
        facts = [(planter, person) for planter in PLANTERS for person in (0, 1)]
        rng.shuffle(facts)
        for number in range(1, sessions + 1):
            writer.new_session(number)
            writer.chat(rng.randint(3, 6), _distractor(rng))
            if number == 2:
                job = _state_job(writer, *pair, rng)
            elif number == sessions - 3 and job is not None:
                corpus.questions.append(_change_job(writer, job, rng))
            elif facts:
                planter, person = facts.pop()
                a, b = pair if person == 0 else pair[::-1]
                corpus.questions += planter(writer, a, b, rng)
            writer.chat(max(turns_per_session - len(writer.sessions[-1]), 2), _distractor(rng))
        corpus.turns += [turn for session in writer.sessions for turn in session]
    return corpus


NOTE_TOPICS = [
    (
        "Garden log",
        "The {plant} by the south fence flowered in {month} after the frost.",
        "When did the {plant} flower?",
    ),
    (
        "Car maintenance",
        "The {part} of the van was replaced at {garage} for {price} euros.",
        "How much did the van's {part} cost to replace?",
    ),
    ("Reading notes", "The book {title} argues that {claim}.", "What does {title} argue?"),
    (
        "Trip planning",
        "The ferry to {island} leaves at {time} from pier {pier}.",
        "What time does the boat to {island} depart?",
    ),
]
FILLERS = {
    "plant": ["wisteria", "magnolia", "lavender", "camellia", "quince"],
    "month": ["April", "May", "June", "March"],
    "part": ["clutch", "alternator", "timing belt", "radiator", "starter motor"],
    "garage": ["Dupont Motors", "the garage on Hill Road", "Fixit Autos"],
    "price": ["320", "415", "180", "760", "95"],
    "title": ["Slow Rivers", "The Quiet Grid", "Salt and Stone", "Paper Cities"],
    "claim": [
        "small towns recover faster than cities",
        "grids fail at their edges first",
        "salt roads shaped trade more than rivers",
        "cities grow along their ferries",
    ],
    "island": ["Inishmore", "Vis", "Texel", "Hiddensee", "Ischia"],
    "time": ["7:40", "9:15", "12:05", "16:30", "18:50"],
    "pier": ["3", "7", "12", "B", "D"],
}
FILLER_TEXT = (
    "The notebook also holds lists of errands, sketches of the shed, phone "
    "numbers of plumbers, and reminders to water the seedlings twice a week. "
)


def documents(seed: int = 0, count: int = 30) -> Corpus:
    """Notes of a few paragraphs, each with one fact among filler, and a question for it."""
    rng = random.Random(seed + 1)
    corpus = Corpus()
    for number in range(count):
        title, fact, question = NOTE_TOPICS[number % len(NOTE_TOPICS)]
        values = {name: rng.choice(options) for name, options in FILLERS.items()}
        paragraphs = [FILLER_TEXT * rng.randint(2, 4) for _ in range(rng.randint(2, 4))]
        paragraphs.insert(rng.randint(0, len(paragraphs)), fact.format(**values))
        key = f"doc-{number}"
        corpus.documents.append(
            {
                "title": f"{title} {number}",
                "key": key,
                "text": "\n\n".join(paragraphs),
                "fact": fact.format(**values),
            }
        )
        corpus.questions.append(Question(question.format(**values), [key], "document"))
    return corpus
