//! Golden snapshots: realistic lines from each source through syslog
//! parsing, auto-detection and the parser, rendered with
//! `Record::summary`. `UPDATE_EXPECT=1 cargo test` rewrites them; review
//! the diff like code.

use expect_test::expect;
use rampart_ingest::ParserKind;

use super::summaries;

#[test]
fn sshd() {
    let lines = [
        "<38>Jun 15 11:58:01 bastion sshd[20211]: Accepted publickey for alice from 192.0.2.10 port 51234 ssh2: ED25519 SHA256:Jb2mYyQ0yq1pLWjvZk4UUf8m7w6Jd3pJdPqFHi6XQ4Y",
        "<38>Jun 15 11:58:02 bastion sshd[20212]: Accepted password for bob from 2001:db8::7 port 40022 ssh2",
        "<38>Jun 15 11:58:03 bastion sshd[20213]: Failed password for root from 203.0.113.5 port 40000 ssh2",
        "<38>Jun 15 11:58:04 bastion sshd[20213]: Failed password for invalid user admin from 203.0.113.5 port 40001 ssh2",
        "<38>Jun 15 11:58:05 bastion sshd[20214]: Invalid user oracle from 203.0.113.5 port 40002",
        "<38>Jun 15 11:58:06 bastion sshd[20214]: Connection closed by invalid user oracle 203.0.113.5 port 40002 [preauth]",
        "<38>Jun 15 11:58:07 bastion sshd[20215]: Disconnected from authenticating user root 203.0.113.5 port 40003 [preauth]",
        "<38>Jun 15 11:58:08 bastion sshd[20211]: Received disconnect from 192.0.2.10 port 51234:11: disconnected by user",
        "<38>Jun 15 11:58:09 bastion sshd[20211]: Disconnected from user alice 192.0.2.10 port 51234",
        "<38>Jun 15 11:58:10 bastion sshd[20216]: error: maximum authentication attempts exceeded for root from 203.0.113.5 port 40004 ssh2 [preauth]",
        "<38>Jun 15 11:58:11 bastion sshd[20217]: Connection reset by 198.51.100.7 port 60000 [preauth]",
        "<38>1 2024-06-15T11:58:14.000123+02:00 bastion sshd-session 20219 - - Accepted keyboard-interactive/pam for carol from 192.0.2.11 port 50000 ssh2",
        "<38>Jun 15 11:58:15 bastion sshd[1]: Server listening on 0.0.0.0 port 22.",
    ];
    expect![[r#"
        log.sshd.auth_success class=3002 outcome=success
          User="alice"
          auth_method="publickey"
          src_ip="192.0.2.10"
          src_port=51234
          ssh_key_type="ED25519"
          ssh_key_fingerprint="SHA256:Jb2mYyQ0yq1pLWjvZk4UUf8m7w6Jd3pJdPqFHi6XQ4Y"

        log.sshd.auth_success class=3002 outcome=success
          User="bob"
          auth_method="password"
          src_ip="2001:db8::7"
          src_port=40022

        log.sshd.auth_failed class=3002 outcome=failure
          User="root"
          auth_method="password"
          src_ip="203.0.113.5"
          src_port=40000

        log.sshd.auth_failed class=3002 outcome=failure
          User="admin"
          auth_method="password"
          src_ip="203.0.113.5"
          src_port=40001
          invalid_user=true

        log.sshd.invalid_user class=3002 outcome=failure
          User="oracle"
          invalid_user=true
          src_ip="203.0.113.5"
          src_port=40002

        log.sshd.connection_closed class=4007 outcome=-
          User="oracle"
          invalid_user=true
          src_ip="203.0.113.5"
          src_port=40002
          preauth=true

        log.sshd.disconnect class=4007 outcome=-
          User="root"
          src_ip="203.0.113.5"
          src_port=40003
          preauth=true

        log.sshd.disconnect class=4007 outcome=-
          src_ip="192.0.2.10"
          src_port=51234
          disconnect_code=11
          reason="disconnected by user"

        log.sshd.disconnect class=4007 outcome=-
          User="alice"
          src_ip="192.0.2.10"
          src_port=51234

        log.sshd.max_auth_exceeded class=3002 outcome=failure
          User="root"
          src_ip="203.0.113.5"
          src_port=40004
          preauth=true

        log.sshd.connection_closed class=4007 outcome=-
          src_ip="198.51.100.7"
          src_port=60000
          preauth=true

        log.sshd.auth_success class=3002 outcome=success
          User="carol"
          auth_method="keyboard-interactive/pam"
          src_ip="192.0.2.11"
          src_port=50000

        log.sshd.other class=0 outcome=-
    "#]]
    .assert_eq(&summaries(ParserKind::Auto, &lines));
}

#[test]
fn sudo_and_su() {
    let lines = [
        "<85>Jun 15 11:59:00 web01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
        "<85>Jun 15 11:59:01 web01 sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/bash",
        "<85>Jun 15 11:59:02 web01 sudo:  mallory : user NOT in sudoers ; TTY=pts/2 ; PWD=/tmp ; USER=root ; COMMAND=/bin/cat /etc/shadow",
        "<85>Jun 15 11:59:03 web01 sudo: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)",
        "<86>Jun 15 11:59:10 web01 su[3001]: (to root) alice on pts/0",
        "<86>Jun 15 11:59:11 web01 su[3002]: FAILED SU (to root) bob on pts/1",
        "<86>Jun 15 11:59:12 web01 su[3003]: pam_unix(su:auth): authentication failure; logname=bob uid=1001 euid=0 tty=pts/1 ruser=bob rhost=  user=root",
    ];
    expect![[r#"
        log.sudo.command class=1007 outcome=success
          User="alice"
          tty="pts/0"
          CurrentDirectory="/home/alice"
          TargetUser="root"
          CommandLine="/usr/bin/systemctl restart nginx"
          Image="/usr/bin/systemctl"

        log.sudo.auth_failed class=3002 outcome=failure
          User="bob"
          reason="3 incorrect password attempts"
          failure_count=3
          tty="pts/1"
          CurrentDirectory="/home/bob"
          TargetUser="root"
          CommandLine="/bin/bash"
          Image="/bin/bash"

        log.sudo.denied class=3003 outcome=denied
          User="mallory"
          reason="user NOT in sudoers"
          tty="pts/2"
          CurrentDirectory="/tmp"
          TargetUser="root"
          CommandLine="/bin/cat /etc/shadow"
          Image="/bin/cat"

        log.pam.session_opened class=3002 outcome=success
          User="root"
          uid=0
          SubjectUser="alice"
          subject_uid=1000
          pam_module="pam_unix"
          pam_service="sudo"
          pam_type="session"

        log.su.success class=3002 outcome=success
          User="alice"
          TargetUser="root"
          tty="pts/0"

        log.su.failed class=3002 outcome=failure
          User="bob"
          TargetUser="root"
          tty="pts/1"

        log.pam.auth_failed class=3002 outcome=failure
          logname="bob"
          uid=1001
          euid=0
          tty="pts/1"
          ruser="bob"
          User="root"
          pam_module="pam_unix"
          pam_service="su"
          pam_type="auth"
    "#]]
    .assert_eq(&summaries(ParserKind::Auto, &lines));
}

#[test]
fn pam_from_other_programs() {
    let lines = [
        "<86>Jun 15 12:00:01 web01 CRON[4001]: pam_unix(cron:session): session opened for user root(uid=0) by root(uid=0)",
        "<86>Jun 15 12:00:02 web01 CRON[4001]: pam_unix(cron:session): session closed for user root",
        "<86>Jun 15 12:00:03 web01 login[4002]: pam_unix(login:auth): check pass; user unknown",
        "<38>Jun 15 12:00:04 web01 sshd[4003]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=root",
    ];
    expect![[r#"
        log.pam.session_opened class=3002 outcome=success
          User="root"
          uid=0
          SubjectUser="root"
          subject_uid=0
          pam_module="pam_unix"
          pam_service="cron"
          pam_type="session"

        log.pam.session_closed class=3002 outcome=success
          User="root"
          pam_module="pam_unix"
          pam_service="cron"
          pam_type="session"

        log.pam.other class=3002 outcome=-
          pam_message="check pass; user unknown"
          pam_module="pam_unix"
          pam_service="login"
          pam_type="auth"

        log.pam.auth_failed class=3002 outcome=failure
          failure_count=2
          uid=0
          euid=0
          tty="ssh"
          src_ip="203.0.113.5"
          User="root"
    "#]]
    .assert_eq(&summaries(ParserKind::Auto, &lines));
}

#[test]
fn netfilter() {
    let lines = [
        "<4>Jun 15 11:59:30 fw01 kernel: [1234567.123456] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.5 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID=54321 DF PROTO=TCP SPT=40000 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0",
        "<4>Jun 15 11:59:31 fw01 kernel: nft-accept-ssh: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=192.0.2.10 DST=192.0.2.1 LEN=52 TOS=0x00 PREC=0x00 TTL=61 ID=1 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=502 RES=0x00 ACK URGP=0",
        "<4>Jun 15 11:59:32 fw01 kernel: IN=eth1 OUT=eth0 SRC=10.0.0.5 DST=198.51.100.9 LEN=84 TOS=0x00 PREC=0x00 TTL=63 ID=0 DF PROTO=ICMP TYPE=8 CODE=0 ID=12 SEQ=1",
        "<4>Jun 15 11:59:33 fw01 kernel: [nftables] INPUT REJECT: IN=eth0 OUT= SRC=2001:db8::66 DST=2001:db8::1 LEN=80 TC=0 HOPLIMIT=57 FLOWLBL=0 PROTO=UDP SPT=5353 DPT=161 LEN=40",
    ];
    expect![[r#"
        log.netfilter.packet class=4001 outcome=denied
          log_prefix="[UFW BLOCK]"
          in_interface="eth0"
          mac="52:54:00:12:34:56:52:54:00:65:43:21:08:00"
          src_ip="203.0.113.5"
          dst_ip="192.0.2.1"
          length=60
          ttl=50
          packet_id="54321"
          protocol="tcp"
          src_port=40000
          dst_port=22
          flags=["DF", "SYN"]
          action="drop"
          blocked=true

        log.netfilter.packet class=4001 outcome=success
          log_prefix="nft-accept-ssh:"
          in_interface="eth0"
          mac="52:54:00:12:34:56:52:54:00:65:43:21:08:00"
          src_ip="192.0.2.10"
          dst_ip="192.0.2.1"
          length=52
          ttl=61
          packet_id="1"
          protocol="tcp"
          src_port=51234
          dst_port=22
          flags=["DF", "ACK"]
          action="accept"
          blocked=false

        log.netfilter.packet class=4001 outcome=-
          in_interface="eth1"
          out_interface="eth0"
          src_ip="10.0.0.5"
          dst_ip="198.51.100.9"
          length=84
          ttl=63
          packet_id="0"
          protocol="icmp"
          icmp_type=8
          icmp_code=0
          flags=["DF"]
          action="forward"

        log.netfilter.packet class=4001 outcome=denied
          log_prefix="[nftables] INPUT REJECT:"
          in_interface="eth0"
          src_ip="2001:db8::66"
          dst_ip="2001:db8::1"
          length=80
          protocol="udp"
          src_port=5353
          dst_port=161
          action="reject"
          blocked=true
    "#]]
    .assert_eq(&summaries(ParserKind::Auto, &lines));
}

#[test]
fn web_access_and_error() {
    let lines = [
        r#"<190>Jun 15 11:59:40 web01 nginx: 203.0.113.5 - - [15/Jun/2024:11:59:40 +0000] "GET /index.php?id=1%27%20UNION%20SELECT%20NULL-- HTTP/1.1" 200 512 "-" "sqlmap/1.8#stable (https://sqlmap.org)""#,
        r#"<190>Jun 15 11:59:41 web01 nginx: 192.0.2.10 - alice [15/Jun/2024:13:59:41 +0200] "POST /api/v1/login HTTP/2.0" 401 87 "https://app.example.com/login" "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0" 0.012"#,
        r#"<187>Jun 15 11:59:42 web01 nginx: 2024/06/15 11:59:42 [error] 812#812: *1047 open() "/var/www/html/.env" failed (2: No such file or directory), client: 203.0.113.5, server: example.com, request: "GET /.env HTTP/1.1", host: "example.com""#,
        "<187>Jun 15 11:59:43 web01 apache2: [Sat Jun 15 11:59:43.123456 2024] [core:error] [pid 2211:tid 140245] [client 203.0.113.5:40100] AH00126: Invalid URI in request GET /..%2f..%2fetc/passwd HTTP/1.1",
        r#"www.example.com:443 198.51.100.7 - - [15/Jun/2024:11:59:44 +0000] "GET /wp-login.php HTTP/1.1" 404 196 "-" "curl/8.5.0""#,
    ];
    expect![[r#"
        log.http.access class=4002 outcome=success
          c-ip="203.0.113.5"
          cs-method="GET"
          c-uri="/index.php?id=1%27%20UNION%20SELECT%20NULL--"
          cs-uri-stem="/index.php"
          cs-uri-query="id=1%27%20UNION%20SELECT%20NULL--"
          c-uri-query="id=1%27%20UNION%20SELECT%20NULL--"
          c-uri-extension="php"
          cs-version="HTTP/1.1"
          sc-status=200
          sc-bytes=512
          c-useragent="sqlmap/1.8#stable (https://sqlmap.org)"
          cs-user-agent="sqlmap/1.8#stable (https://sqlmap.org)"

        log.http.access class=4002 outcome=failure
          c-ip="192.0.2.10"
          cs-username="alice"
          cs-method="POST"
          c-uri="/api/v1/login"
          cs-uri-stem="/api/v1/login"
          cs-version="HTTP/2.0"
          sc-status=401
          sc-bytes=87
          cs-referer="https://app.example.com/login"
          c-useragent="Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
          cs-user-agent="Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"

        log.http.error class=6008 outcome=-
          server_software="nginx"
          level="error"
          pid=812
          error_message="open() \"/var/www/html/.env\" failed (2: No such file or directory)"
          c-ip="203.0.113.5"
          server_name="example.com"
          cs-method="GET"
          c-uri="/.env"
          cs-uri-stem="/.env"
          c-uri-extension="env"
          cs-version="HTTP/1.1"
          cs-host="example.com"

        log.http.error class=6008 outcome=-
          server_software="apache"
          level="error"
          module="core"
          pid=2211
          c-ip="203.0.113.5"
          error_code="AH00126"
          error_message="Invalid URI in request GET /..%2f..%2fetc/passwd HTTP/1.1"

        log.http.access class=4002 outcome=failure
          c-ip="198.51.100.7"
          cs-method="GET"
          c-uri="/wp-login.php"
          cs-uri-stem="/wp-login.php"
          c-uri-extension="php"
          cs-version="HTTP/1.1"
          sc-status=404
          sc-bytes=196
          c-useragent="curl/8.5.0"
          cs-user-agent="curl/8.5.0"
          cs-host="www.example.com"
    "#]]
    .assert_eq(&summaries(ParserKind::Auto, &lines));
}

#[test]
fn postgresql() {
    let lines = [
        "<134>Jun 15 11:59:50 db01 postgres[5120]: [3-1] 2024-06-15 11:59:50.101 UTC [5120] LOG:  connection received: host=10.0.0.5 port=53422",
        "<134>Jun 15 11:59:50 db01 postgres[5120]: [4-1] 2024-06-15 11:59:50.120 UTC [5120] alice@app LOG:  connection authorized: user=alice database=app application_name=psql",
        r#"<134>Jun 15 11:59:51 db01 postgres[5121]: [3-1] 2024-06-15 11:59:51.000 UTC [5121] bob@app FATAL:  password authentication failed for user "bob""#,
        r#"<134>Jun 15 11:59:52 db01 postgres[5122]: [3-1] 2024-06-15 11:59:52.000 UTC [5122] [unknown]@[unknown] FATAL:  no pg_hba.conf entry for host "198.51.100.7", user "postgres", database "postgres", no encryption"#,
        "<134>Jun 15 11:59:53 db01 postgres[5120]: [5-1] 2024-06-15 11:59:53.500 UTC [5120] alice@app LOG:  duration: 12.345 ms  statement: SELECT * FROM accounts WHERE id = 42;",
        r#"<134>Jun 15 11:59:54 db01 postgres[5120]: [6-1] 2024-06-15 11:59:54.000 UTC [5120] alice@app ERROR:  relation "acounts" does not exist at character 15"#,
        "<134>Jun 15 11:59:55 db01 postgres[5123]: [2-1] user=eve,db=app,app=[unknown],client=198.51.100.7 LOG:  statement: DROP TABLE audit_log;",
    ];
    expect![[r#"
        log.postgresql.connection_received class=0 outcome=-
          src_ip="10.0.0.5"
          src_port=53422
          level="LOG"
          pid=5120

        log.postgresql.connection class=3002 outcome=success
          User="alice"
          database="app"
          application_name="psql"
          level="LOG"
          pid=5120

        log.postgresql.auth_failed class=3002 outcome=failure
          User="bob"
          auth_method="password"
          error_message="password authentication failed for user \"bob\""
          level="FATAL"
          pid=5121
          database="app"

        log.postgresql.auth_failed class=3002 outcome=failure
          User="postgres"
          src_ip="198.51.100.7"
          database="postgres"
          error_message="no pg_hba.conf entry for host \"198.51.100.7\", user \"postgres\", database \"postgres\", no encryption"
          level="FATAL"
          pid=5122

        log.postgresql.statement class=6005 outcome=success
          query="SELECT * FROM accounts WHERE id = 42;"
          duration_ms=12.345
          level="LOG"
          pid=5120
          User="alice"
          database="app"

        log.postgresql.error class=6008 outcome=failure
          error_message="relation \"acounts\" does not exist at character 15"
          level="ERROR"
          pid=5120
          User="alice"
          database="app"

        log.postgresql.statement class=6005 outcome=success
          query="DROP TABLE audit_log;"
          level="LOG"
          User="eve"
          database="app"
          application_name="[unknown]"
          src_ip="198.51.100.7"
    "#]].assert_eq(&summaries(ParserKind::Auto, &lines));
}

#[test]
fn mysql() {
    let lines = [
        "<30>Jun 15 11:59:56 db02 mysqld[900]: 2024-06-15T11:59:56.123456Z 8 [Warning] [MY-010055] [Server] IP address '203.0.113.5' could not be resolved: Name or service not known",
        "<30>Jun 15 11:59:57 db02 mysqld[900]: 2024-06-15T11:59:57.000001Z 9 [Note] [MY-010926] [Server] Access denied for user 'root'@'203.0.113.5' (using password: YES)",
        "<30>Jun 15 11:59:58 db02 mysqld[900]: 2024-06-15T11:59:58.000000Z\t   12 Connect\talice@10.0.0.5 on shop using TCP/IP",
        "<30>Jun 15 11:59:58 db02 mysqld[900]: 2024-06-15T11:59:58.100000Z\t   12 Query\tSELECT * FROM orders LIMIT 10",
        "<30>Jun 15 11:59:59 db02 mysqld[900]: 2024-06-15T11:59:59.000000Z 0 [ERROR] [MY-012592] [InnoDB] Operating system error number 28 in a file operation.",
    ];
    expect![[r#"
        log.mysql.other class=0 outcome=-
          level="Warning"
          error_code="MY-010055"
          error_message="IP address '203.0.113.5' could not be resolved: Name or service not known"
          thread_id=8

        log.mysql.auth_failed class=3002 outcome=failure
          User="root"
          src_ip="203.0.113.5"
          password_used=true
          level="Note"
          error_code="MY-010926"
          error_message="Access denied for user 'root'@'203.0.113.5' (using password: YES)"
          thread_id=9

        log.mysql.connection class=3002 outcome=success
          User="alice"
          src_ip="10.0.0.5"
          database="shop"
          command="Connect"
          thread_id=12

        log.mysql.statement class=6005 outcome=success
          query="SELECT * FROM orders LIMIT 10"
          command="Query"
          thread_id=12

        log.mysql.error class=6008 outcome=failure
          level="ERROR"
          error_code="MY-012592"
          error_message="Operating system error number 28 in a file operation."
          thread_id=0
    "#]]
    .assert_eq(&summaries(ParserKind::Auto, &lines));
}

#[test]
fn json_cloudtrail_and_kv() {
    let lines = [
        r#"<14>1 2024-06-15T12:00:00Z app01 billing 77 - - @cee:{"@timestamp":"2024-06-15T11:59:59.5Z","level":"warn","user":{"id":42,"roles":["admin","ops"]},"items":[{"sku":"a"}],"ok":false,"ratio":0.5,"none":null}"#,
        r#"<14>1 2024-06-15T12:00:00Z ct - - - - {"eventVersion":"1.08","eventTime":"2024-06-15T11:59:00Z","eventSource":"kms.amazonaws.com","eventName":"ScheduleKeyDeletion","sourceIPAddress":"198.51.100.7","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/mallory"},"errorCode":"AccessDenied"}"#,
        r#"<134>Jun 15 12:00:05 fw02 firewall: date=2024-06-15 time=12:00:05 devname="FGT-01" action=deny srcip=203.0.113.5 srcport=40000 dstip=192.0.2.1 dstport=3389 proto=6 msg="Denied by policy 7""#,
        "<13>Jun 15 12:00:06 host01 myapp[12]: something happened without structure",
    ];
    expect![[r#"
        log.json class=0 outcome=-
          @timestamp="2024-06-15T11:59:59.5Z"
          items.0.sku="a"
          level="warn"
          none=null
          ok=false
          ratio=0.5
          user.id=42
          user.roles=["admin", "ops"]

        log.cloudtrail.api_call class=6003 outcome=failure
          api_operation="kms.amazonaws.com:ScheduleKeyDeletion"
          src_ip="198.51.100.7"
          errorCode="AccessDenied"
          eventName="ScheduleKeyDeletion"
          eventSource="kms.amazonaws.com"
          eventTime="2024-06-15T11:59:00Z"
          eventVersion="1.08"
          sourceIPAddress="198.51.100.7"
          userIdentity.arn="arn:aws:iam::111122223333:user/mallory"
          userIdentity.type="IAMUser"

        log.kv class=0 outcome=-
          date="2024-06-15"
          time="12:00:05"
          devname="FGT-01"
          action="deny"
          src_ip="203.0.113.5"
          srcip="203.0.113.5"
          src_port=40000
          srcport=40000
          dst_ip="192.0.2.1"
          dstip="192.0.2.1"
          dst_port=3389
          dstport=3389
          proto=6
          msg="Denied by policy 7"

        log.unknown class=0 outcome=-
    "#]]
    .assert_eq(&summaries(ParserKind::Auto, &lines));
}

#[test]
fn windows_sysmon_process_creation() {
    let event = r##"{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon","Guid":"5770385F-C22A-43E0-BF4C-06F5698FFBD9"}},"EventID":1,"Version":5,"Level":4,"Task":1,"Opcode":0,"Keywords":"0x8000000000000000","TimeCreated":{"#attributes":{"SystemTime":"2025-12-15T12:24:43.008589Z"}},"EventRecordID":74989,"Correlation":null,"Execution":{"#attributes":{"ProcessID":3320,"ThreadID":4216}},"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"swachchhanda","Security":{"#attributes":{"UserID":"S-1-5-18"}}},"EventData":{"RuleName":"-","Image":"C:\\Windows\\System32\\wbem\\WMIC.exe","CommandLine":"\"C:\\WINDOWS\\System32\\Wbem\\WMIC.exe\" process where name='x' call terminate","User":"swachchhanda\\xodih","ParentImage":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"}}}"##;
    let line = format!("<14>1 2025-12-15T12:24:44Z swachchhanda nxlog - - - {event}");
    expect![[r#"
        log.windows.process_creation class=1007 outcome=success
          Channel="Microsoft-Windows-Sysmon/Operational"
          Computer="swachchhanda"
          EventID=1
          EventRecordID=74989
          Execution_ProcessID=3320
          Execution_ThreadID=4216
          Keywords="0x8000000000000000"
          Level=4
          Opcode=0
          Provider_Guid="5770385F-C22A-43E0-BF4C-06F5698FFBD9"
          Provider_Name="Microsoft-Windows-Sysmon"
          Security_UserID="S-1-5-18"
          Task=1
          TimeCreated_SystemTime="2025-12-15T12:24:43.008589Z"
          Version=5
          Event.#attributes.xmlns="http://schemas.microsoft.com/win/2004/08/events/event"
          CommandLine="\"C:\\WINDOWS\\System32\\Wbem\\WMIC.exe\" process where name='x' call terminate"
          Image="C:\\Windows\\System32\\wbem\\WMIC.exe"
          ParentImage="C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
          RuleName="-"
          User="swachchhanda\\xodih"
    "#]]
    .assert_eq(&summaries(ParserKind::Auto, &[&line]));
}

#[test]
fn unknown_lines_keep_message_and_header() {
    let r = super::record(ParserKind::Sshd, "<38>Jun 15 11:58:15 bastion sshd[1]: Server listening on :: port 22.");
    assert_eq!(r.kind, "log.sshd.other");
    assert_eq!(r.syslog.message, "Server listening on :: port 22.");
    assert_eq!(r.syslog.hostname.as_deref(), Some("bastion"));
    assert_eq!(r.syslog.proc_id.as_deref(), Some("1"));
}
