"""Every problem ``bot check`` can report: a stable code, a name, a severity, and what it says.

A ``Code`` (``F102``) is what tests, docs, logs and the console refer to; it never changes
meaning. A ``Message`` is one way a code is explained, in English and Japanese, with the same
``{placeholders}`` in both (``tests/engine/test_codes.py`` holds every message to that). A code
can have several messages: ``F101`` explains a missing field and a wrong type differently.

    issues.add(M.MISSING_TARGET, "flows/first_contact.yaml", 41, state="ask_age", target="age_ok")
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"      # the edit is not loaded: the bot keeps the last good version
    WARNING = "warning"  # reported; the edit loads


class Code(StrEnum):
    """Stable codes. ``F`` codes are errors, ``W`` codes warnings."""

    YAML_SYNTAX = "F100"
    SCHEMA_ERROR = "F101"
    MISSING_TARGET = "F102"
    UNREACHABLE_STATE = "F103"
    DEAD_END = "F104"
    MISSING_LOCALE_KEY = "F105"
    INTENT_WITHOUT_KEYWORDS = "F106"
    NO_CRISIS_INTERRUPT = "F107"
    TOO_LONG_FOR_PLATFORM = "F108"
    AUTO_MOVE_LOOP = "F109"
    UNKNOWN_RESOURCE = "F110"
    UNKNOWN_INTENT = "F111"
    DUPLICATE_CHOICE = "F112"
    BAD_PLACEHOLDER = "F113"
    MISSING_FILE = "F114"
    UNKNOWN_WORD_LIST = "F115"
    PHONE_IN_TEXT = "F116"
    RESOURCE_NOT_REVERIFIED = "F117"
    UNUSED_LOCALE_KEY = "W201"
    LONG_BUBBLE = "W202"
    RESOURCE_VERIFIED_LONG_AGO = "W203"
    UNUSABLE_MODEL = "W204"
    MISSING_TRANSLATION = "W205"

    @property
    def title(self) -> str:
        """``MissingTarget``: the name docs and messages show beside the code."""
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def severity(self) -> Severity:
        return Severity.WARNING if self.value.startswith("W") else Severity.ERROR


@dataclass(frozen=True)
class Message:
    """One explanation of a code, for NGO staff: what is wrong and what to do, in both languages."""

    code: Code
    en: str
    ja: str

    def text(self, lang: str) -> str:
        return self.ja if lang == "ja" else self.en


# The "did you mean" that follows a message naming something that does not exist.
SUGGESTION = Message(Code.MISSING_TARGET, ' Did you mean "{suggestion}"?', "「{suggestion}」のまちがいではありませんか？")
# How an issue is introduced, per language: where, which state, how bad.
SEVERITY_WORDS = {"en": {"error": "error", "warning": "warning"}, "ja": {"error": "エラー", "warning": "注意"}}
STATE_WORDS = Message(Code.SCHEMA_ERROR, ', state "{state}"', "、状態「{state}」")

C = Code


class M:
    """Every message, by name. Grouped by code, in code order."""

    # -- F100: the file cannot be read as YAML ---------------------------------------------------
    YAML_BROKEN = Message(C.YAML_SYNTAX,
        "the YAML is broken here ({problem}). Check indentation, colons and quotes.",
        "YAML の書き方がここで崩れています（{problem}）。字下げ、コロン（:）、引用符（\"）を確かめてください。")
    YAML_INDENT = Message(C.YAML_SYNTAX,
        "this line starts {got} spaces in, but the line above it starts {want}. Lines of the same level "
        "must start in the same column: make this one start {want} spaces in.",
        "この行は {got} 文字分の空白で始まっていますが、上の行は {want} 文字分です。同じ段の行は同じ位置から"
        "始めてください。この行の先頭の空白を {want} 文字分にしてください。")
    YAML_INDENT_NOWHERE = Message(C.YAML_SYNTAX,
        "this line starts {got} spaces in, which lines up with no line above it ({levels}). Line it up "
        "with the line it belongs beside.",
        "この行は {got} 文字分の空白で始まっていますが、上のどの行ともそろっていません（{levels}）。"
        "並ぶべき行と先頭の位置をそろえてください。")
    YAML_COLON_IN_TEXT = Message(C.YAML_SYNTAX,
        'this text has a colon and a space (": ") in it, which YAML reads as the start of a new key. Put '
        'the whole text in double quotes: {key}: "…".',
        "この文には「: 」（コロンと空白）があり、YAML は新しい項目の始まりと読んでしまいます。"
        "文全体を \" で囲んでください：{key}: \"…\"")
    YAML_NO_SPACE_AFTER_COLON = Message(C.YAML_SYNTAX,
        'this line has no space after its colon. Write "{key}: …" with a space after the ":".',
        "この行はコロン（:）のあとに空白がありません。「{key}: …」のように「:」のあとに空白を入れてください。")
    YAML_TAB = Message(C.YAML_SYNTAX,
        "this line is indented with a tab. YAML needs spaces: replace the tab with spaces.",
        "この行はタブで字下げされています。YAML では空白（スペース）を使ってください。")
    YAML_SPECIAL_START = Message(C.YAML_SYNTAX,
        'a text cannot start with "{char}" in YAML. Put the whole text in double quotes: "…".',
        "YAML では文を「{char}」で始められません。文全体を \" で囲んでください。")
    YAML_UNCLOSED_QUOTE = Message(C.YAML_SYNTAX,
        "the quote {quote} opened on this line is never closed. Add the closing {quote} at the end of the text.",
        "この行で始まった引用符 {quote} が閉じられていません。文の最後に {quote} を足してください。")
    YAML_TEXT_AFTER_QUOTE = Message(C.YAML_SYNTAX,
        "there is more text after the closing quote. Put the whole text inside the quotes.",
        "閉じた引用符のあとにまだ文が続いています。文全体を引用符の中に入れてください。")
    YAML_UNCLOSED_BRACKET = Message(C.YAML_SYNTAX,
        'the list or mapping opened with "{bracket}" on this line is not closed with "{closer}", or an item '
        'in it needs quotes.',
        "この行の「{bracket}」で始まる一覧が「{closer}」で閉じられていないか、中の項目に引用符が必要です。")
    YAML_NOT_UTF8 = Message(C.YAML_SYNTAX,
        "the file is not UTF-8 text ({reason}). Save it as UTF-8.",
        "このファイルは UTF-8 の文字ではありません（{reason}）。UTF-8 で保存し直してください。")
    YAML_ALIAS_BOMB = Message(C.YAML_SYNTAX,
        "the aliases (*name) here expand to more than {limit} values. Write the values out instead.",
        "ここの別名（*name）を展開すると {limit} 個を超えます。値をそのまま書いてください。")
    YAML_ALIAS_LOOP = Message(C.YAML_SYNTAX,
        "an alias (*name) refers to the block it is in, which would never end. Remove the alias.",
        "別名（*name）が自分を含むブロックを指していて、終わりがありません。別名を消してください。")
    YAML_DUPLICATE_KEY = Message(C.YAML_SYNTAX,
        '"{key}" is written twice here (also on line {other_line}); the second would silently replace the '
        'first. Keep one, or merge them.',
        "「{key}」がここと {other_line} 行目の二か所にあります。あとのほうが前のほうを黙って上書きしてしまいます。"
        "一つにするか、まとめてください。")
    YAML_BAD_TAG = Message(C.YAML_SYNTAX,
        "a value here cannot be read ({problem}). Remove the !! tag.",
        "ここの値が読めません（{problem}）。!! で始まるタグを消してください。")
    YAML_BAD_VALUE = Message(C.YAML_SYNTAX,
        "a value cannot be read ({problem}). Remove any !! tag.",
        "読めない値があります（{problem}）。!! で始まるタグを消してください。")
    YAML_TOO_DEEP = Message(C.YAML_SYNTAX,
        "the YAML is nested too deeply. Check indentation and brackets.",
        "YAML の入れ子が深すぎます。字下げとかっこを確かめてください。")

    # -- F101: the file reads, but a field is missing, unknown or of the wrong kind ----------------
    SCHEMA_MISSING = Message(C.SCHEMA_ERROR,
        '"{field}" is missing under {where}. Add it.',
        "{where} の下に「{field}」がありません。書き足してください。")
    SCHEMA_MISSING_TOP = Message(C.SCHEMA_ERROR,
        '"{field}" is missing at the top of the file. Add it.',
        "ファイルの最初の段に「{field}」がありません。書き足してください。")
    SCHEMA_UNKNOWN_FIELD = Message(C.SCHEMA_ERROR,
        '"{field}" is not a field the bot knows (at {where}). Check the spelling or remove it.',
        "「{field}」はボットが知らない項目です（{where}）。つづりを確かめるか、消してください。")
    SCHEMA_NOT_LIST = Message(C.SCHEMA_ERROR,
        "{where} should be a list, like [a, b].", "{where} は [a, b] のような一覧にしてください。")
    SCHEMA_NOT_MAPPING = Message(C.SCHEMA_ERROR,
        "{where} should be a mapping (key: value).", "{where} は「項目: 値」の形にしてください。")
    SCHEMA_NOT_TEXT = Message(C.SCHEMA_ERROR,
        "{where} should be text.", "{where} は文字にしてください。")
    SCHEMA_NOT_WHOLE_NUMBER = Message(C.SCHEMA_ERROR,
        "{where} should be a whole number.", "{where} は整数にしてください。")
    SCHEMA_NOT_NUMBER = Message(C.SCHEMA_ERROR,
        "{where} should be a number.", "{where} は数にしてください。")
    SCHEMA_NOT_TRUE_FALSE = Message(C.SCHEMA_ERROR,
        "{where} should be true or false.", "{where} は true か false にしてください。")
    SCHEMA_BAD_NAME = Message(C.SCHEMA_ERROR,
        '{where}: "{value}" may use only letters, digits, "_", "-" (and "." in keys).',
        "{where}：「{value}」に使えるのは英字、数字、「_」「-」（キーでは「.」も）だけです。")
    SCHEMA_NOT_ALLOWED = Message(C.SCHEMA_ERROR,
        '{where}: "{value}" is not allowed; use {allowed}.',
        "{where}：「{value}」は使えません。{allowed} のどれかにしてください。")
    SCHEMA_TOO_SMALL = Message(C.SCHEMA_ERROR,
        "{where}: {value} is too small; it must be {limit}.", "{where}：{value} は小さすぎます。{limit} にしてください。")
    SCHEMA_TOO_LARGE = Message(C.SCHEMA_ERROR,
        "{where}: {value} is too large; it must be {limit}.", "{where}：{value} は大きすぎます。{limit} にしてください。")
    SCHEMA_OTHER = Message(C.SCHEMA_ERROR, "{where}: {detail}.", "{where}：{detail}")
    NEXT_AND_BRANCH = Message(C.SCHEMA_ERROR,
        "a state can have `next` or `branch`, not both. Keep one.",
        "一つの状態に `next` と `branch` の両方は書けません。どちらか一つにしてください。")
    BAD_STATE_NAME = Message(C.SCHEMA_ERROR,
        'state name "{name}" may use only letters, digits, "_" and "-".',
        "状態の名前「{name}」に使えるのは英字、数字、「_」「-」だけです。")
    LOCALE_NOT_MAPPING = Message(C.SCHEMA_ERROR,
        "a locale file must be a mapping with `texts:` (or `intents:`).",
        "言語ファイルは `texts:`（または `intents:`）を持つ「項目: 値」の形にしてください。")
    LOCALE_UNKNOWN_SECTION = Message(C.SCHEMA_ERROR,
        '"{section}" is not a section of a locale file; use texts, intents or words.',
        "「{section}」は言語ファイルの段ではありません。texts、intents、words のどれかを使ってください。")
    TEXT_NOT_TEXT = Message(C.SCHEMA_ERROR,
        'text "{key}" should be text, not {kind}. Write the text after the colon, in quotes if it has special characters.',
        "テキスト「{key}」は文字にしてください（いまは {kind}）。コロンのあとに文を書き、記号を含むときは \" で囲んでください。")
    TEXT_IN_TWO_FILES = Message(C.SCHEMA_ERROR,
        'text "{key}" is also in {other_file}. Keep it in one file.',
        "テキスト「{key}」は {other_file} にもあります。どちらか一つのファイルにしてください。")
    WORDS_NOT_MAPPING = Message(C.SCHEMA_ERROR,
        "words should be a mapping: name → list of words.", "words は「名前: 言葉の一覧」の形にしてください。")
    WORD_LIST_NOT_LIST = Message(C.SCHEMA_ERROR,
        'word list "{name}" should be a list of words.', "言葉の一覧「{name}」は言葉の一覧（[a, b]）にしてください。")
    INTENTS_NOT_MAPPING = Message(C.SCHEMA_ERROR,
        "intents should be a mapping: name → keywords.", "intents は「名前: キーワード」の形にしてください。")
    INTENT_SHAPE = Message(C.SCHEMA_ERROR,
        'intent "{intent}" should be a list of keywords, or have keywords:, phrases:, idioms: (or exclude:), '
        'unless:, model_unless:, negation: and quoted:.',
        "意図「{intent}」はキーワードの一覧にするか、keywords:、phrases:、idioms:（または exclude:）、unless:、model_unless:、"
        "negation:、quoted: を持つ形にしてください。")
    INTENT_FLAG_NOT_BOOL = Message(C.SCHEMA_ERROR,
        'intent "{intent}": {flag}: should be true or false.', "意図「{intent}」の {flag}: は true か false にしてください。")
    INTENT_PART_NOT_LIST = Message(C.SCHEMA_ERROR,
        '{part} of intent "{intent}" should be a list of words, like [word, other word].',
        "意図「{intent}」の {part} は [言葉, 別の言葉] のような一覧にしてください。")
    DEFAULT_LOCALE_MISSING = Message(C.SCHEMA_ERROR,
        'default_locale "{locale}" has no file locales/{locale}.yaml.',
        "default_locale の「{locale}」には locales/{locale}.yaml がありません。")
    SET_LOCALE_UNKNOWN = Message(C.SCHEMA_ERROR,
        'set_locale "{locale}" has no locale file (locales/{locale}.yaml).',
        "set_locale の「{locale}」には言語ファイル（locales/{locale}.yaml）がありません。")
    EFFECT_NEEDS_LOCALE = Message(C.SCHEMA_ERROR,
        "set_locale needs `locale:` naming a locale file.", "set_locale には言語ファイルを指す `locale:` が必要です。")
    RESOURCE_NO_CONTACT = Message(C.SCHEMA_ERROR,
        '"{resource}" needs a tel: or a url:.', "「{resource}」には tel: か url: が必要です。")

    # -- F102: a move to a state that does not exist ------------------------------------------------
    MISSING_TARGET = Message(C.MISSING_TARGET,
        'goes to "{target}", which does not exist. Check the spelling or add that state.',
        "行き先の「{target}」という状態がありません。つづりを確かめるか、その状態を作ってください。")
    ALIAS_IS_STATE = Message(C.MISSING_TARGET,
        'the old name "{alias}" under `aliases:` is also a state: a state keeps its own name. Remove the alias.',
        "`aliases:` の古い名前「{alias}」は状態の名前でもあります。状態は自分の名前のままです。その別名を消してください。")
    STATE_RENAMED = Message(C.MISSING_TARGET,
        '{count} moves go to "{target}" (lines {lines}), but the state is called "{renamed}" and nothing goes '
        'there. Give them the same name: rename the state, or change the moves.',
        "{count} か所の移動（{lines} 行目）は「{target}」へ行きますが、状態の名前は「{renamed}」で、そこへはどこからも"
        "来ません。名前をそろえてください（状態の名前を変えるか、移動のほうを直す）。")
    RESUME_NOT_A_STATE = Message(C.MISSING_TARGET,
        '{field} must name a state, not "@resume".', "{field} には状態の名前を書いてください（「@resume」は使えません）。")
    RESUME_ONLY_FROM_CHOICE = Message(C.MISSING_TARGET,
        'only a choice can lead to "@resume".', "「@resume」に行けるのはボタン（choice）だけです。")
    ACK_NOT_A_CHOICE = Message(C.MISSING_TARGET,
        "ack: \"{choice}\" is not one of this state's choices. Use a choice id of this state.",
        "ack: の「{choice}」はこの状態のボタンではありません。この状態のボタンの id を書いてください。")

    # -- F103 - F110 ---------------------------------------------------------------------------------
    UNREACHABLE = Message(C.UNREACHABLE_STATE,
        "no choice, route or move leads here, so nobody can reach it. Link to it or remove it.",
        "どのボタン・言葉・移動もここに来ないので、だれもこの状態にたどり着けません。どこかからつなぐか、消してください。")
    SAYS_NOTHING = Message(C.DEAD_END,
        "this state says nothing and does not move on: the person would see nothing. Add `say:` or `next:`.",
        "この状態は何も言わず、次にも進みません。相手には何も表示されません。`say:` か `next:` を書いてください。")
    DEAD_END = Message(C.DEAD_END,
        "a dead end: the person can only leave it by typing a special word. Add choices (at least a way on "
        "and a way to a person), or mark it `end: true`.",
        "行き止まりです。特別な言葉を打たないと出られません。ボタン（少なくとも先へ進むものと人と話すもの）を"
        "足すか、`end: true` にしてください。")
    MISSING_TEXT = Message(C.MISSING_LOCALE_KEY,
        'text "{key}" is missing in {locale_file}. Add it there.', "テキスト「{key}」が {locale_file} にありません。そこに書き足してください。")
    MISSING_TEXT_EVERYWHERE = Message(C.MISSING_LOCALE_KEY,
        'text "{key}" is in no locale file. Check the spelling, or add it to every locales/<language>.yaml.',
        "テキスト「{key}」はどの言語ファイルにもありません。つづりを確かめるか、すべての locales/<言語>.yaml に書き足してください。")
    INTENT_NO_KEYWORDS = Message(C.INTENT_WITHOUT_KEYWORDS,
        'intent "{intent}" has no keywords in {locale_file}. Add `{intent}:` with keywords under `intents:` there.',
        "意図「{intent}」のキーワードが {locale_file} にありません。そこの `intents:` の下に `{intent}:` とキーワードを書いてください。")
    NO_CRISIS_INTERRUPT = Message(C.NO_CRISIS_INTERRUPT,
        'there is no interrupt named "crisis". Add one as the first interrupt, going to a state tagged crisis.',
        "「crisis」という割り込み（interrupt）がありません。crisis の札（tag）がついた状態へ行く割り込みを最初に足してください。")
    CRISIS_NOT_TAGGED = Message(C.NO_CRISIS_INTERRUPT,
        'the crisis interrupt goes to "{target}", which is not tagged crisis.',
        "crisis の割り込みの行き先「{target}」に crisis の札（tag）がついていません。")
    TOO_MANY_CHOICES = Message(C.TOO_LONG_FOR_PLATFORM,
        "{count} choices, and the fallback adds one for a person: LINE shows at most {limit}. Split the question.",
        "ボタンが {count} 個あり、人と話すボタンが一つ加わります。LINE に出せるのは {limit} 個までです。質問を分けてください。")
    LABEL_TOO_LONG = Message(C.TOO_LONG_FOR_PLATFORM,
        'choice label "{key}" is {size} characters; LINE shows at most {limit}. Shorten it.',
        "ボタンの文字「{key}」は {size} 文字です。LINE に出せるのは {limit} 文字までです。短くしてください。")
    TEXT_TOO_LONG = Message(C.TOO_LONG_FOR_PLATFORM,
        'text "{key}" is {size} characters; Discord allows {limit} per message. Split it into two texts.',
        "テキスト「{key}」は {size} 文字です。Discord は一つのメッセージに {limit} 文字までです。二つに分けてください。")
    RESOURCE_NAME_TOO_LONG = Message(C.TOO_LONG_FOR_PLATFORM,
        'the name of "{resource}" in {locale} is longer than {limit} characters.',
        "「{resource}」の {locale} の名前が {limit} 文字を超えています。")
    AUTO_LOOP = Message(C.AUTO_MOVE_LOOP,
        "these states move on by themselves in a circle: the bot would talk forever. Give one of them "
        "choices instead of `next:`.",
        "これらの状態は自動で次へ進み、輪になっています。ボットが話し続けてしまいます。どれか一つを `next:` "
        "ではなくボタンにしてください。")
    UNKNOWN_RESOURCE = Message(C.UNKNOWN_RESOURCE,
        '"{resource}" is not in flows/resources.yaml. Check the spelling or add the service there.',
        "「{resource}」は flows/resources.yaml にありません。つづりを確かめるか、そこに窓口を書き足してください。")

    # -- F111 - F115 ---------------------------------------------------------------------------------
    UNKNOWN_INTENT = Message(C.UNKNOWN_INTENT,
        'intent "{intent}" is in no keyword file (locales/*.intents.yaml). Check the spelling, or add it there.',
        "意図「{intent}」はどのキーワードファイル（locales/*.intents.yaml）にもありません。つづりを確かめるか、書き足してください。")
    DUPLICATE_CHOICE = Message(C.DUPLICATE_CHOICE,
        'two choices are called "{choice}". Give each choice its own id.',
        "「{choice}」という名前のボタンが二つあります。ボタンごとに別の id をつけてください。")
    PLACEHOLDER_UNKNOWN_RESOURCE = Message(C.BAD_PLACEHOLDER,
        'text "{key}": {{{placeholder}}} names "{resource}", which is not in flows/resources.yaml.',
        "テキスト「{key}」：{{{placeholder}}} の「{resource}」は flows/resources.yaml にありません。")
    PLACEHOLDER_UNKNOWN_FIELD = Message(C.BAD_PLACEHOLDER,
        'text "{key}": {{{placeholder}}}: "{field}" is not a field of "{resource}" (use name, tel, url, hours or note).',
        "テキスト「{key}」：{{{placeholder}}} の「{field}」は「{resource}」の項目ではありません（name、tel、url、hours、note のどれか）。")
    PLACEHOLDER_NOT_A_NAME = Message(C.BAD_PLACEHOLDER,
        'text "{key}": "{{{placeholder}}}" is not a placeholder; write {{name}} or {{service.field}}.',
        "テキスト「{key}」：「{{{placeholder}}}」は差し込みの書き方ではありません。{{name}} か {{窓口.項目}} と書いてください。")
    PLACEHOLDER_LONE_BRACE = Message(C.BAD_PLACEHOLDER,
        'text "{key}": a lone {{ or }}; write {{{{ or }}}} for a brace.',
        "テキスト「{key}」：{{ か }} が一つだけあります。かっこそのものを書くときは {{{{ か }}}} と二つ重ねてください。")
    FOLDER_MISSING = Message(C.MISSING_FILE,
        "the {kind} folder does not exist.", "{kind} のフォルダがありません。")
    NO_LOCALE_FILES = Message(C.MISSING_FILE,
        "no locale files (ja.yaml, en.yaml) were found.", "言語ファイル（ja.yaml、en.yaml）が見つかりません。")
    NO_FLOW_FILES = Message(C.MISSING_FILE,
        "no flow files were found.", "フローのファイルが見つかりません。")
    UNKNOWN_WORD_LIST = Message(C.UNKNOWN_WORD_LIST,
        'intent "{intent}": "{pattern}" uses the word list {{{name}}}, which is not under `words:`. Add it '
        'there, or check the spelling.',
        "意図「{intent}」：「{pattern}」が使う言葉の一覧 {{{name}}} が `words:` にありません。書き足すか、つづりを確かめてください。")
    PHONE_IN_TEXT = Message(C.PHONE_IN_TEXT,
        'text "{key}" has the phone number {number} typed in it. Use the resource instead: write {{{resource}.tel}}, '
        'so the number is kept (and checked) in one place, flows/resources.yaml.',
        "テキスト「{key}」に電話番号 {number} が直接書かれています。窓口（resource）を使って {{{resource}.tel}} と"
        "書いてください。番号は flows/resources.yaml の一か所で管理し、確かめます。")
    PHONE_IN_TEXT_NO_RESOURCE = Message(C.PHONE_IN_TEXT,
        'text "{key}" has the phone number {number} typed in it, and no service in flows/resources.yaml has it. Add '
        'the service there (with its source and the day you verified it) and write {{service.tel}} in the text.',
        "テキスト「{key}」に電話番号 {number} が直接書かれていて、flows/resources.yaml のどの窓口にもありません。"
        "そこに窓口を（出典と確かめた日といっしょに）書き足し、テキストには {{窓口.tel}} と書いてください。")
    RESOURCE_NOT_REVERIFIED = Message(C.RESOURCE_NOT_REVERIFIED,
        '"{resource}": {changed} changed, so update {missing} too: the day you checked it on the official '
        'site, and where you checked it.',
        "「{resource}」の {changed} が変わりました。{missing} も更新してください（公式サイトで確かめた日と、"
        "確かめた場所）。")

    # -- warnings --------------------------------------------------------------------------------------
    UNUSED_TEXT = Message(C.UNUSED_LOCALE_KEY,
        'text "{key}" is not used by any flow. Remove it, or use it in a state.',
        "テキスト「{key}」はどのフローでも使われていません。消すか、どこかの状態で使ってください。")
    LONG_BUBBLE = Message(C.LONG_BUBBLE,
        'text "{key}" is {size} characters: long for a phone screen. Consider splitting it.',
        "テキスト「{key}」は {size} 文字あり、スマホの画面には長めです。分けることを考えてください。")
    VERIFIED_LONG_AGO = Message(C.RESOURCE_VERIFIED_LONG_AGO,
        '"{resource}" was last verified {days} days ago ({verified}). Check the number and hours on its '
        'official site, then update `verified`.',
        "「{resource}」を最後に確かめたのは {days} 日前（{verified}）です。公式サイトで番号と受付時間を確かめ、"
        "`verified` を更新してください。")
    UNUSABLE_MODEL = Message(C.UNUSABLE_MODEL,
        "the understanding model cannot be used ({reason}); the keywords work without it. Run python -m bot train.",
        "理解モデルが使えません（{reason}）。キーワードだけで動きます。python -m bot train を実行してください。")

    # -- W205: a text not translated yet ----------------------------------------------------------
    MISSING_TRANSLATION = Message(C.MISSING_TRANSLATION,
        'text "{key}" is not in {locale_file} yet: the bot shows the {default} text there: "{fallback}". '
        "Add the translation when you can.",
        "テキスト「{key}」は {locale_file} にまだありません。その言語でもボットは {default} の文を出します：「{fallback}」。"
        "できるときに訳を足してください。")


def messages() -> list[Message]:
    """Every message of the registry, in code order."""
    return [value for value in vars(M).values() if isinstance(value, Message)]
