package web

import (
	"fmt"
	"net/http"
	"strings"
)

// Languages the pages are written in. English is the fallback.
const (
	LangEN = "en"
	LangRU = "ru"
)

// langCookie remembers the language chosen with the switch.
const langCookie = "lang"

// catalog maps a message key to its English and Russian text. Texts with
// %s/%d verbs are formatted by Lang.F.
type catalog map[string][2]string

// Lang is the language of one response; templates call T and F on it.
type Lang struct {
	// Code is "en" or "ru".
	Code string
	cat  catalog
}

// T returns the text of key in this language; a missing key is shown as
// itself so that it is noticed (TestCatalogComplete keeps it from
// happening).
func (l Lang) T(key string) string {
	m, ok := l.cat[key]
	if !ok {
		return key
	}
	if l.Code == LangRU {
		return m[1]
	}
	return m[0]
}

// F formats the text of key with args.
func (l Lang) F(key string, args ...any) string {
	return fmt.Sprintf(l.T(key), args...)
}

// Other is the language the switch offers.
func (l Lang) Other() string {
	if l.Code == LangRU {
		return LangEN
	}
	return LangRU
}

// pickLang chooses the language of a request: the switch's cookie first,
// then Accept-Language (the first of en/ru with the highest weight),
// then English.
func pickLang(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == LangEN || c.Value == LangRU) {
		return c.Value
	}
	best, bestQ := LangEN, -1.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				q = 0
			}
		}
		prim, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if (prim == LangEN || prim == LangRU) && q > bestQ {
			best, bestQ = prim, q
		}
	}
	return best
}

// newCatalog returns every text the pages show, in English and Russian.
func newCatalog() catalog {
	return catalog{
		// layout
		"site.title":     {"Mail settings", "Настройки почты"},
		"nav.account":    {"My mailbox", "Мой ящик"},
		"nav.programs":   {"Mail programs", "Почтовые программы"},
		"nav.security":   {"Passwords and sign-ins", "Пароли и входы"},
		"nav.admin":      {"Administration", "Администрирование"},
		"nav.logout":     {"Sign out", "Выйти"},
		"lang.switch":    {"Русский", "English"},
		"err.title":      {"Something went wrong", "Что-то пошло не так"},
		"err.csrf":       {"The form has expired or did not come from this site. Reload the page and try again.", "Форма устарела или отправлена не с этого сайта. Обновите страницу и повторите."},
		"err.notfound":   {"No such page.", "Такой страницы нет."},
		"err.forbidden":  {"This page is for administrators only.", "Эта страница только для администраторов."},
		"err.internal":   {"An internal error occurred; it has been logged. Try again later.", "Произошла внутренняя ошибка, она записана в журнал. Повторите позже."},
		"err.badrequest": {"The request is not valid.", "Неверный запрос."},
		"saved":          {"Saved. The new settings apply from the next login of your mail program.", "Сохранено. Новые настройки действуют со следующего входа почтовой программы."},
		"yes":            {"yes", "да"},
		"no":             {"no", "нет"},
		"on":             {"on", "включён"},
		"off":            {"off", "выключен"},
		"never":          {"never", "никогда"},
		"unlimited":      {"unlimited", "без ограничений"},
		"save":           {"Save changes", "Сохранить изменения"},

		// login
		"login.title":         {"Sign in", "Вход"},
		"login.address":       {"Email address", "Адрес почты"},
		"login.password":      {"Password", "Пароль"},
		"login.submit":        {"Sign in", "Войти"},
		"login.failed":        {"Wrong address or password.", "Неверный адрес или пароль."},
		"login.throttled":     {"Too many failed attempts. Wait a few minutes and try again.", "Слишком много неудачных попыток. Подождите несколько минут и повторите."},
		"login.tls":           {"Passwords are accepted only over an encrypted connection. Open this page with https://.", "Пароль принимается только по защищённому соединению. Откройте эту страницу через https://."},
		"login.disabled":      {"This account is disabled. Contact the administrator.", "Этот ящик отключён. Обратитесь к администратору."},
		"login.loggedout":     {"You have signed out.", "Вы вышли."},
		"login.loggedoutall":  {"You have been signed out on all devices, and every app password was revoked.", "Выполнен выход на всех устройствах, все пароли приложений отозваны."},
		"login.passwordnew":   {"Password changed. Sign in with the new password.", "Пароль изменён. Войдите с новым паролем."},
		"login.hint":          {"Use the full address and the mailbox password (not an app password).", "Введите полный адрес и пароль от ящика (не пароль приложения)."},
		"login.sessionexpire": {"Your session has ended. Sign in again.", "Сеанс завершён. Войдите снова."},

		// account overview
		"acct.title":         {"My mailbox", "Мой ящик"},
		"acct.address":       {"Address", "Адрес"},
		"acct.aliases":       {"Other addresses (aliases)", "Другие адреса (псевдонимы)"},
		"acct.noaliases":     {"No other addresses. The administrator can add them.", "Других адресов нет. Их может добавить администратор."},
		"acct.aliasesnote":   {"Mail to these addresses arrives in this mailbox. Only the administrator can change them.", "Письма на эти адреса приходят в этот ящик. Изменить их может только администратор."},
		"acct.quota":         {"Mailbox size", "Объём ящика"},
		"acct.noaliasesself": {"No other addresses yet. You can add some below.", "Других адресов пока нет. Их можно добавить ниже."},
		"acct.newalias":      {"New address", "Новый адрес"},
		"acct.aliaslimit":    {"You can have up to %d other addresses. Mail to them arrives in this mailbox.", "Можно завести до %d других адресов. Письма на них приходят в этот ящик."},
		"acct.aliasadded":    {"Address added.", "Адрес добавлен."},
		"acct.aliasgone":     {"Address deleted.", "Адрес удалён."},
		"acct.aliastaken":    {"That address is taken or not allowed.", "Этот адрес занят или недопустим."},
		"acct.aliasmax":      {"You have as many other addresses as allowed.", "Других адресов уже столько, сколько разрешено."},
		"fwd.title":          {"Forwarding", "Пересылка"},
		"fwd.intro":          {"Send every new message on to other addresses (separate several with commas). Leave empty to stop forwarding.", "Пересылать каждое новое письмо на другие адреса (несколько — через запятую). Оставьте пустым, чтобы не пересылать."},
		"fwd.to":             {"Forward to", "Пересылать на"},
		"fwd.keep":           {"Keep a copy in this mailbox", "Оставлять копию в этом ящике"},
		"fwd.saved":          {"Forwarding saved.", "Пересылка сохранена."},
		"fwd.bad":            {"Not saved: %s", "Не сохранено: %s"},
		"acct.quotaused":     {"%s of %s used (%d messages)", "Занято %s из %s (писем: %d)"},
		"acct.quotanolim":    {"%s used (%d messages), no limit", "Занято %s (писем: %d), без ограничения"},
		"acct.plus":          {"You can also receive mail at %s — anything after + is accepted.", "Можно получать письма и на %s — после + допустимо что угодно."},

		// client setup
		"setup.title":       {"Settings for your mail program", "Настройки для почтовой программы"},
		"setup.intro":       {"Type these settings into your mail program (Thunderbird, Outlook, Apple Mail, The Bat!, K-9/FairEmail, a phone…). Most programs find them by themselves after you enter your address.", "Введите эти настройки в почтовую программу (Thunderbird, Outlook, Apple Mail, The Bat!, K-9/FairEmail, телефон…). Большинство программ находят их сами после ввода адреса."},
		"setup.service":     {"Service", "Сервис"},
		"setup.server":      {"Server", "Сервер"},
		"setup.port":        {"Port", "Порт"},
		"setup.security":    {"Connection security", "Защита соединения"},
		"setup.login":       {"Login", "Логин"},
		"setup.imap":        {"Incoming mail (IMAP)", "Входящая почта (IMAP)"},
		"setup.pop3":        {"Incoming mail (POP3)", "Входящая почта (POP3)"},
		"setup.smtp":        {"Outgoing mail (SMTP)", "Исходящая почта (SMTP)"},
		"setup.ssl":         {"SSL/TLS", "SSL/TLS"},
		"setup.starttls":    {"STARTTLS", "STARTTLS"},
		"setup.password":    {"Password: your mailbox password, or an app password. The outgoing server needs authentication with the same login and password.", "Пароль: пароль от ящика или пароль приложения. Для исходящего сервера нужна авторизация с тем же логином и паролем."},
		"setup.off":         {"off for your mailbox — turn it on under Mail programs", "выключен для вашего ящика — включите в разделе «Почтовые программы»"},
		"setup.none":        {"The server offers no mail program access at the moment.", "Сейчас сервер не даёт доступа почтовым программам."},
		"setup.apple":       {"Apple devices (iPhone, iPad, Mac): download a configuration profile and open it.", "Устройства Apple (iPhone, iPad, Mac): скачайте профиль настройки и откройте его."},
		"setup.applebutton": {"Download the profile", "Скачать профиль"},
		"setup.plaintext":   {"Your password may also be sent without encryption on STARTTLS ports, but use encryption whenever the program allows it.", "Пароль можно отправлять и без шифрования на портах STARTTLS, но включайте шифрование всегда, когда программа это позволяет."},
		"setup.secure":      {"Your password is accepted only over an encrypted connection: choose SSL/TLS or STARTTLS, never “none”.", "Пароль принимается только по защищённому соединению: выберите SSL/TLS или STARTTLS, но не «нет»."},

		// mail programs
		"prog.title":         {"Mail programs", "Почтовые программы"},
		"prog.intro":         {"Choose which protocols your mail programs may use to get mail from this mailbox.", "Выберите, по каким протоколам почтовые программы могут забирать почту из этого ящика."},
		"prog.imap":          {"Allow access with IMAP", "Разрешить доступ по протоколу IMAP"},
		"prog.imaphelp":      {"IMAP keeps mail and folders on the server and in sync on all your devices.", "IMAP хранит письма и папки на сервере и синхронизирует их на всех ваших устройствах."},
		"prog.pop3":          {"Allow access with POP3", "Разрешить доступ по протоколу POP3"},
		"prog.pop3help":      {"POP3 downloads mail to one device. When POP3 is off, a POP3 program is told “Login failure or POP3 disabled”.", "POP3 загружает письма на одно устройство. Когда POP3 выключен, программа по POP3 получает ответ «Login failure or POP3 disabled»."},
		"prog.folders":       {"Folders a POP3 program gets mail from", "Из каких папок забирать письма по POP3"},
		"prog.since":         {"Which mail POP3 serves", "Какие письма отдавать по POP3"},
		"prog.sinceall":      {"All mail, including mail already downloaded", "Все письма, включая уже загруженные"},
		"prog.sincekeep":     {"Only mail that arrived after %s", "Только письма, пришедшие после %s"},
		"prog.sincenow":      {"Only mail that arrives from now on", "Только письма, которые придут с этого момента"},
		"prog.markseen":      {"Mark messages downloaded by POP3 as read", "Помечать письма, загруженные по POP3, как прочитанные"},
		"prog.delete":        {"When a POP3 program deletes a message", "Когда программа по POP3 удаляет письмо"},
		"prog.deltrash":      {"move it to Trash (kept there 30 days)", "переместить в Удалённые (хранятся 30 дней)"},
		"prog.delkeep":       {"keep it on the server (only POP3 stops offering it)", "оставить на сервере (POP3 просто перестанет его отдавать)"},
		"prog.deldelete":     {"delete it for good", "удалить навсегда"},
		"prog.badfolder":     {"There is no folder %q.", "Папки %q нет."},
		"prog.serveroff":     {"The administrator has turned this protocol off for the whole server.", "Администратор выключил этот протокол для всего сервера."},
		"prog.inbox":         {"Inbox", "Входящие"},
		"prog.mustoneinbox":  {"Choose at least one folder; the Inbox is used otherwise.", "Выберите хотя бы одну папку, иначе используются Входящие."},
		"prog.settingsintro": {"POP3 options", "Настройки POP3"},

		// security: app passwords, sign-ins, password
		"sec.title":          {"Passwords and sign-ins", "Пароли и входы"},
		"app.title":          {"App passwords", "Пароли приложений"},
		"app.intro":          {"Give each mail program its own password. You can revoke it at any time without changing the mailbox password.", "Дайте каждой почтовой программе свой пароль. Его можно отозвать в любой момент, не меняя пароль от ящика."},
		"app.name":           {"Name (for example “Phone”)", "Название (например, «Телефон»)"},
		"app.protocols":      {"May be used for", "Можно использовать для"},
		"app.all":            {"all protocols", "всех протоколов"},
		"app.create":         {"Create a password", "Создать пароль"},
		"app.created":        {"The password for “%s” is below. Copy it into your mail program now: it will not be shown again.", "Пароль для «%s» — ниже. Скопируйте его в почтовую программу сейчас: больше он показан не будет."},
		"app.copy":           {"Copy", "Копировать"},
		"app.none":           {"No app passwords yet.", "Паролей приложений пока нет."},
		"app.created_at":     {"Created", "Создан"},
		"app.lastused":       {"Last used", "Последнее использование"},
		"app.revoke":         {"Revoke", "Отозвать"},
		"app.revoked":        {"The app password was revoked.", "Пароль приложения отозван."},
		"app.badname":        {"Give the password a name of up to 64 characters.", "Дайте паролю название длиной до 64 символов."},
		"all.title":          {"Log out on all devices", "Выйти на всех устройствах"},
		"all.intro":          {"Ends every web session and revokes every app password. Mail programs that use the mailbox password keep working until you change it.", "Завершает все веб-сеансы и отзывает все пароли приложений. Программы, которые используют пароль от ящика, продолжат работать, пока вы его не смените."},
		"all.button":         {"Log out everywhere", "Выйти везде"},
		"log.title":          {"Recent sign-ins", "Недавние входы"},
		"log.intro":          {"Sign-ins to this mailbox, newest first. If your mail program shows a vague error, the reason is here.", "Входы в этот ящик, сначала новые. Если почтовая программа показывает непонятную ошибку, причина — здесь."},
		"log.time":           {"Time (UTC)", "Время (UTC)"},
		"log.protocol":       {"Protocol", "Протокол"},
		"log.ip":             {"Client address", "Адрес клиента"},
		"log.result":         {"Result", "Результат"},
		"log.none":           {"No sign-ins recorded yet.", "Входов пока не было."},
		"log.app":            {"app password «%s»", "пароль приложения «%s»"},
		"log.ok":             {"success", "успешно"},
		"reason.password":    {"wrong password", "неверный пароль"},
		"reason.appproto":    {"the app password is not allowed for this protocol", "пароль приложения не разрешён для этого протокола"},
		"reason.protocol":    {"the protocol is switched off for this mailbox", "протокол выключен для этого ящика"},
		"reason.tls":         {"password sent without encryption (TLS required)", "пароль отправлен без шифрования (нужен TLS)"},
		"reason.throttled":   {"too many failed attempts; temporarily refused", "слишком много неудачных попыток, временный отказ"},
		"reason.disabled":    {"the mailbox is disabled", "ящик отключён"},
		"reason.other":       {"refused", "отказано"},
		"pw.title":           {"Change the password", "Сменить пароль"},
		"pw.current":         {"Current password", "Текущий пароль"},
		"pw.new":             {"New password", "Новый пароль"},
		"pw.repeat":          {"New password again", "Новый пароль ещё раз"},
		"pw.submit":          {"Change the password", "Сменить пароль"},
		"pw.wrongcurrent":    {"The current password is wrong.", "Текущий пароль неверен."},
		"pw.mismatch":        {"The new passwords do not match.", "Новые пароли не совпадают."},
		"pw.short":           {"The new password must be at least %d characters long.", "Новый пароль должен быть не короче %d символов."},
		"pw.hint":            {"Other web sessions end; mail programs must be given the new password.", "Другие веб-сеансы завершатся; в почтовых программах нужно будет указать новый пароль."},
		"proto.imap":         {"IMAP", "IMAP"},
		"proto.pop3":         {"POP3", "POP3"},
		"proto.smtp":         {"SMTP (sending)", "SMTP (отправка)"},
		"proto.web":          {"web", "веб"},
		"admin.title":        {"Administration", "Администрирование"},
		"queue.title":        {"Outbound queue", "Очередь отправки"},
		"queue.off":          {"This server has no outbound queue.", "У этого сервера нет очереди отправки."},
		"queue.empty":        {"The queue is empty: every message has been delivered.", "Очередь пуста: все письма доставлены."},
		"queue.id":           {"Id", "Номер"},
		"queue.from":         {"From", "От"},
		"queue.to":           {"To", "Кому"},
		"queue.attempts":     {"Attempts", "Попыток"},
		"queue.next":         {"Next attempt (UTC)", "Следующая попытка (UTC)"},
		"queue.error":        {"Last error", "Последняя ошибка"},
		"queue.local":        {"local delivery", "местная доставка"},
		"queue.busy":         {"being delivered now", "доставляется сейчас"},
		"queue.retry":        {"Retry now", "Повторить сейчас"},
		"queue.retryall":     {"Retry all now", "Повторить все сейчас"},
		"queue.drop":         {"Drop", "Удалить"},
		"queue.retried":      {"The delivery engine will try again within seconds.", "Доставка будет повторена в течение нескольких секунд."},
		"queue.dropped":      {"The message was dropped; its sender is not told.", "Письмо удалено; отправитель не получит уведомления."},
		"srv.title":          {"Server settings", "Настройки сервера"},
		"srv.policyconfig":   {"as in the configuration file", "как в файле настроек"},
		"srv.policyhint":     {"Applies from the next login of every protocol; an account's own policy still wins.", "Действует со следующего входа по любому протоколу; собственная политика ящика важнее."},
		"srv.new":            {"New accounts", "Новые ящики"},
		"srv.newpop3":        {"POP3 on", "POP3 включён"},
		"srv.newimap":        {"IMAP on", "IMAP включён"},
		"srv.newhint":        {"For accounts made from now on, here or with pochta user add; existing accounts keep their settings.", "Для ящиков, создаваемых с этого момента (здесь или командой pochta user add); у существующих настройки не меняются."},
		"srv.admins":         {"Administrators from the configuration file", "Администраторы из файла настроек"},
		"srv.noadmins":       {"None: only accounts with the administrator flag.", "Нет: только ящики с отметкой «администратор»."},
		"admin.domains":      {"Domains", "Домены"},
		"admin.accounts":     {"Accounts", "Ящики"},
		"admin.aliases":      {"Aliases", "Псевдонимы"},
		"admin.health":       {"Server health", "Состояние сервера"},
		"admin.adddomain":    {"Add a domain", "Добавить домен"},
		"admin.domain":       {"Domain", "Домен"},
		"admin.catchall":     {"Catch-all", "Сбор всей почты"},
		"admin.add":          {"Add", "Добавить"},
		"admin.delete":       {"Delete", "Удалить"},
		"admin.address":      {"Address", "Адрес"},
		"admin.quota":        {"Quota", "Квота"},
		"admin.used":         {"Used", "Занято"},
		"admin.status":       {"Status", "Состояние"},
		"admin.disabled":     {"disabled", "отключён"},
		"admin.active":       {"active", "активен"},
		"admin.isadmin":      {"administrator", "администратор"},
		"admin.create":       {"Create an account", "Создать ящик"},
		"admin.quotahelp":    {"Quota, e.g. 10GiB or 500MiB; 0 = unlimited; empty = the default", "Квота, например 10GiB или 500MiB; 0 — без ограничений; пусто — по умолчанию"},
		"admin.makeadmin":    {"Administrator", "Администратор"},
		"admin.createdpw":    {"Account %s created. Its password (shown once): ", "Ящик %s создан. Его пароль (показан один раз): "},
		"admin.resetpw":      {"Reset the password", "Сбросить пароль"},
		"admin.resetdone":    {"New password for %s (shown once): ", "Новый пароль для %s (показан один раз): "},
		"admin.edit":         {"Settings", "Настройки"},
		"admin.disable":      {"Account disabled", "Ящик отключён"},
		"admin.badquota":     {"Bad quota: %s", "Неверная квота: %s"},
		"admin.bad":          {"Not done: %s", "Не выполнено: %s"},
		"admin.done":         {"Done.", "Готово."},
		"admin.targets":      {"Delivers to (addresses, comma-separated)", "Доставлять в (адреса через запятую)"},
		"admin.alias":        {"Alias address", "Адрес псевдонима"},
		"admin.noalias":      {"No aliases.", "Псевдонимов нет."},
		"admin.back":         {"All accounts", "Все ящики"},
		"admin.listeners":    {"Listeners", "Порты"},
		"admin.listener":     {"Listener", "Порт"},
		"admin.addr":         {"Address", "Адрес"},
		"admin.storeok":      {"Store", "Хранилище"},
		"admin.ok":           {"working", "работает"},
		"admin.fail":         {"failing: %s", "ошибка: %s"},
		"admin.uptime":       {"Running for", "Работает"},
		"admin.conns":        {"Open connections", "Открытых соединений"},
		"admin.queue":        {"Messages in the outbound queue", "Писем в очереди на отправку"},
		"admin.unknown":      {"unknown", "неизвестно"},
		"admin.cert":         {"Certificate", "Сертификат"},
		"admin.selfsigned":   {"self-signed; clients must be told to trust it", "самоподписанный; клиентам нужно разрешить доверять ему"},
		"admin.validuntil":   {"valid until %s", "действителен до %s"},
		"admin.policy":       {"Login policy", "Политика входа"},
		"admin.policysecure": {"passwords only over TLS", "пароли только через TLS"},
		"admin.policyplain":  {"passwords also without TLS", "пароли и без TLS"},
		"admin.policydef":    {"server default", "как на сервере"},
		"admin.serverpop3":   {"POP3 on the server", "POP3 на сервере"},
		"admin.serverimap":   {"IMAP on the server", "IMAP на сервере"},
		"admin.serverhelp":   {"Server-wide switches and the login policy are set in the configuration file.", "Переключатели для всего сервера и политика входа задаются в файле конфигурации."},
		"admin.dns":          {"DNS records for %s", "Записи DNS для %s"},
		"admin.dnshelp":      {"Publish these so that other servers deliver here and mail programs find the settings.", "Опубликуйте их, чтобы другие серверы доставляли почту сюда, а почтовые программы находили настройки."},
	}
}
