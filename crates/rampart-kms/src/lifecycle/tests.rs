//! Tests of the key state machine. The expectations are transcribed from the
//! documents, not from the code: AWS's key state table (Developer Guide, "Key
//! states of AWS KMS keys", with its numbered exceptions), AWS's API
//! reference for the deletion and rotation calls, and Tencent's API
//! documents for archiving, deletion and rotation.

use super::*;
use Operation::*;

const NOW: i64 = 1_700_000_000_000;
const PENDING: KeyState = KeyState::PendingDeletion { deletion_date_ms: NOW + 30 * DAY_MS };

/// Outcomes as the key state table writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// ✓
    Ok,
    /// `DisabledException` (exception 1).
    Dis,
    /// `KMSInvalidStateException` (exceptions 3, 4, 5, 8, 10).
    Inv,
    /// `UnsupportedOperationException` (exception 6).
    Uns,
    /// Refused as a use of a key pending deletion (exceptions 2 or 3), which
    /// this service must also raise as an alarm.
    Alarm,
}

use Want::{Alarm, Dis, Inv, Ok as Y, Uns};

/// One row per operation: Enabled, Disabled, PendingImport, PendingDeletion.
/// Operations newer than the archived copy of the table (GenerateMac,
/// VerifyMac, RotateKeyOnDemand, ListKeyRotations) follow the row of their
/// closest documented sibling (Sign, EnableKeyRotation, ListResourceTags).
/// Where the table says "N/A" (asymmetric keys cannot be pending import) we
/// expect the pending-import refusal; where it says "?" because the answer
/// depends on imported material, we expect the state alone to permit it.
const AWS_TABLE: &[(Operation, [Want; 4])] = &[
    (CancelKeyDeletion, [Inv, Inv, Inv, Y]),
    (CreateAlias, [Y, Y, Y, Inv]),
    (CreateGrant, [Y, Dis, Inv, Inv]),
    (Decrypt, [Y, Dis, Inv, Alarm]),
    (DeleteAlias, [Y, Y, Y, Y]),
    (DeleteImportedKeyMaterial, [Y, Y, Y, Inv]),
    (DescribeKey, [Y, Y, Y, Y]),
    (DisableKey, [Y, Y, Inv, Inv]),
    (DisableKeyRotation, [Y, Dis, Uns, Inv]),
    (EnableKey, [Y, Y, Inv, Inv]),
    (EnableKeyRotation, [Y, Dis, Uns, Inv]),
    (Encrypt, [Y, Dis, Inv, Alarm]),
    (GenerateDataKey, [Y, Dis, Inv, Alarm]),
    (GenerateDataKeyPair, [Y, Dis, Inv, Alarm]),
    (GenerateDataKeyPairWithoutPlaintext, [Y, Dis, Inv, Alarm]),
    (GenerateDataKeyWithoutPlaintext, [Y, Dis, Inv, Alarm]),
    (GenerateMac, [Y, Dis, Inv, Alarm]),
    (GetKeyPolicy, [Y, Y, Y, Y]),
    (GetKeyRotationStatus, [Y, Y, Uns, Y]),
    (GetParametersForImport, [Y, Y, Y, Inv]),
    (GetPublicKey, [Y, Dis, Inv, Alarm]),
    (ImportKeyMaterial, [Y, Y, Y, Inv]),
    (ListAliases, [Y, Y, Y, Y]),
    (ListGrants, [Y, Y, Y, Y]),
    (ListKeyPolicies, [Y, Y, Y, Y]),
    (ListKeyRotations, [Y, Y, Y, Y]),
    (ListResourceTags, [Y, Y, Y, Y]),
    (ListRetirableGrants, [Y, Y, Y, Y]),
    (PutKeyPolicy, [Y, Y, Y, Y]),
    (ReEncryptFrom, [Y, Dis, Inv, Alarm]),
    (ReEncryptTo, [Y, Dis, Inv, Alarm]),
    (RetireGrant, [Y, Y, Y, Y]),
    (RevokeGrant, [Y, Y, Y, Y]),
    (RotateKeyOnDemand, [Y, Dis, Uns, Inv]),
    (ScheduleKeyDeletion, [Y, Y, Y, Inv]),
    (Sign, [Y, Dis, Inv, Alarm]),
    (TagResource, [Y, Y, Y, Inv]),
    (UntagResource, [Y, Y, Y, Inv]),
    (UpdateAlias, [Y, Y, Y, Inv]),
    (UpdateKeyDescription, [Y, Y, Y, Inv]),
    (Verify, [Y, Dis, Inv, Alarm]),
    (VerifyMac, [Y, Dis, Inv, Alarm]),
];

fn outcome(result: Result<(), StateError>) -> Want {
    let Err(e) = result else { return Y };
    if e.is_alarm() {
        assert_eq!(e.aws_type(), "KMSInvalidStateException");
        return Alarm;
    }
    match e.aws_type() {
        "DisabledException" => Dis,
        "KMSInvalidStateException" => Inv,
        "UnsupportedOperationException" => Uns,
        other => panic!("unexpected error type {other} for {e}"),
    }
}

#[test]
fn permits_matches_the_aws_key_state_table() {
    let states = [KeyState::Enabled, KeyState::Disabled, KeyState::PendingImport, PENDING];
    for (op, row) in AWS_TABLE {
        for (state, want) in states.iter().zip(row) {
            assert_eq!(outcome(permits(state, *op)), *want, "{op} in {state:?}");
        }
    }
}

#[test]
fn the_table_covers_every_operation_but_the_tencent_archive_calls() {
    for op in Operation::ALL {
        let listed = AWS_TABLE.iter().any(|(o, _)| o == op);
        assert_eq!(listed, !matches!(op, ArchiveKey | CancelKeyArchive), "{op}");
    }
}

#[test]
fn cancel_key_deletion_puts_the_key_in_disabled() {
    // "After you cancel the pending deletion of a KMS key, the key state of
    // the KMS key is Disabled." (Developer Guide, Cancel key deletion)
    assert_eq!(cancel_deletion(&PENDING), Ok(KeyState::Disabled));
    // Exception 4: "<key ARN> is not pending deletion."
    for state in [KeyState::Enabled, KeyState::Disabled, KeyState::PendingImport, KeyState::Archived] {
        let err = cancel_deletion(&state).err();
        assert_eq!(err, Some(StateError::NotPendingDeletion), "{state:?}");
        assert_eq!(err.map(|e| e.tc_code()), Some("ResourceUnavailable.CmkNotPendingDelete"));
    }
}

#[test]
fn decrypt_of_an_archived_key_works_and_encrypt_is_refused() {
    // Tencent ArchiveKey: "The archived keys can only be used for decryption
    // but not encryption."
    let archived = archive(&KeyState::Enabled).unwrap();
    assert_eq!(archived, KeyState::Archived);
    assert_eq!(permits(&archived, Decrypt), Ok(()));
    assert_eq!(permits(&archived, ReEncryptFrom), Ok(()), "re-encrypting away from an archived key decrypts");
    let err = permits(&archived, Encrypt).unwrap_err();
    assert_eq!(err, StateError::Archived { op: Encrypt });
    assert_eq!(err.tc_code(), "ResourceUnavailable.CmkArchived");
    for op in Operation::ALL.iter().copied().filter(|op| op.is_key_use()) {
        let allowed = matches!(op, Decrypt | ReEncryptFrom);
        assert_eq!(permits(&archived, op).is_ok(), allowed, "{op} on an archived key");
    }
}

#[test]
fn cancel_key_archive_enables_the_key() {
    // Tencent CancelKeyArchive: "If a key is unarchived, its status will be
    // Enabled."
    assert_eq!(cancel_archive(&KeyState::Archived), Ok(KeyState::Enabled));
    assert_eq!(cancel_archive(&KeyState::Enabled), Err(StateError::NotArchived));
    assert_eq!(cancel_archive(&KeyState::Disabled), Err(StateError::NotArchived));
}

#[test]
fn an_archived_key_changes_state_only_by_cancelling_the_archive() {
    for result in [enable(&KeyState::Archived), disable(&KeyState::Archived)] {
        assert!(matches!(result, Err(StateError::Archived { .. })));
    }
    assert!(schedule_deletion(&KeyState::Archived, Api::Tencent, Some(7), NOW).is_err());
    assert!(schedule_deletion(&KeyState::Archived, Api::Aws, Some(7), NOW).is_err());
    assert_eq!(archive(&KeyState::Archived), Ok(KeyState::Archived), "archiving is idempotent");
    assert!(archive(&KeyState::Disabled).is_err(), "only an enabled key is archived");
    assert!(permits(&KeyState::Archived, DescribeKey).is_ok());
    assert!(permits(&KeyState::Archived, UpdateKeyDescription).is_ok());
}

#[test]
fn scheduling_deletion_uses_a_7_to_30_day_window_defaulting_to_30() {
    // ScheduleKeyDeletion: "If you include a value, it must be between 7 and
    // 30, inclusive. If you do not include a value, it defaults to 30."
    for (days, want) in [(None, Some(30)), (Some(7), Some(7)), (Some(30), Some(30)), (Some(6), None), (Some(31), None)]
    {
        let got = schedule_deletion(&KeyState::Enabled, Api::Aws, days, NOW);
        match want {
            Some(d) => assert_eq!(got, Ok(KeyState::PendingDeletion { deletion_date_ms: NOW + d * DAY_MS })),
            None => {
                let err = got.unwrap_err();
                assert_eq!(err, StateError::InvalidPendingWindow);
                assert_eq!(err.tc_code(), "InvalidParameter.InvalidPendingWindowInDays");
            }
        }
    }
    assert_eq!(
        schedule_deletion(&KeyState::Disabled, Api::Tencent, Some(0), NOW),
        Err(StateError::InvalidPendingWindow)
    );
}

#[test]
fn aws_schedules_enabled_disabled_and_pending_import_keys_but_tencent_only_disabled_ones() {
    for state in [KeyState::Enabled, KeyState::Disabled, KeyState::PendingImport] {
        assert!(schedule_deletion(&state, Api::Aws, None, NOW).is_ok(), "{state:?}");
    }
    // Tencent error code ResourceUnavailable.CmkShouldBeDisabled: "a CMK
    // that is not disabled cannot be scheduled for deletion".
    assert!(schedule_deletion(&KeyState::Disabled, Api::Tencent, Some(7), NOW).is_ok());
    for state in [KeyState::Enabled, KeyState::PendingImport] {
        let err = schedule_deletion(&state, Api::Tencent, Some(7), NOW).unwrap_err();
        assert_eq!(err.tc_code(), "ResourceUnavailable.CmkShouldBeDisabled", "{state:?}");
    }
    // Exception 3: a key already pending deletion cannot be scheduled again.
    let err = schedule_deletion(&PENDING, Api::Aws, None, NOW).unwrap_err();
    assert_eq!(err, StateError::PendingDeletion { op: ScheduleKeyDeletion });
}

#[test]
fn every_key_use_while_pending_deletion_is_an_alarm_and_management_is_not() {
    for op in Operation::ALL.iter().copied() {
        let result = permits(&PENDING, op);
        if op.is_key_use() {
            let err = result.unwrap_err();
            assert_eq!(err, StateError::UsedWhilePendingDeletion { op });
            assert!(err.is_alarm());
        } else if let Err(err) = result {
            assert!(!err.is_alarm(), "{op} is management, not use of the key");
        }
    }
    // The same uses in other refusing states are ordinary refusals.
    for state in [KeyState::Disabled, KeyState::PendingImport, KeyState::Archived] {
        assert!(permits(&state, Encrypt).is_err_and(|e| !e.is_alarm()), "{state:?}");
    }
}

#[test]
fn disabled_key_errors_carry_both_apis_codes() {
    let err = permits(&KeyState::Disabled, Encrypt).unwrap_err();
    assert_eq!(err.aws_type(), "DisabledException");
    assert_eq!(err.tc_code(), "ResourceUnavailable.CmkDisabled");
    assert_eq!(err.to_string(), "Encrypt refused: the key is disabled");
}

#[test]
fn transitions_agree_with_permits() {
    let states = [KeyState::Enabled, KeyState::Disabled, KeyState::PendingImport, PENDING, KeyState::Archived];
    type Transition = fn(&KeyState) -> Result<KeyState, StateError>;
    let transitions: [(Operation, Transition); 7] = [
        (EnableKey, enable),
        (DisableKey, disable),
        (CancelKeyDeletion, cancel_deletion),
        (ArchiveKey, archive),
        (CancelKeyArchive, cancel_archive),
        (ImportKeyMaterial, material_imported),
        (DeleteImportedKeyMaterial, material_deleted),
    ];
    for state in states {
        for (op, transition) in transitions {
            assert_eq!(transition(&state).is_ok(), permits(&state, op).is_ok(), "{op} from {state:?}");
        }
        let aws = schedule_deletion(&state, Api::Aws, None, NOW);
        assert_eq!(aws.is_ok(), permits(&state, ScheduleKeyDeletion).is_ok(), "schedule from {state:?}");
    }
}

#[test]
fn enable_and_disable_are_idempotent_and_pending_import_needs_material() {
    assert_eq!(enable(&KeyState::Enabled), Ok(KeyState::Enabled));
    assert_eq!(enable(&KeyState::Disabled), Ok(KeyState::Enabled));
    assert_eq!(disable(&KeyState::Disabled), Ok(KeyState::Disabled));
    assert_eq!(disable(&KeyState::Enabled), Ok(KeyState::Disabled));
    assert_eq!(enable(&KeyState::PendingImport), Err(StateError::PendingImport { op: EnableKey }));
    // "Keys with imported key material are created in the PendingImport
    // state"; importing makes them usable, deleting the material returns
    // them to PendingImport.
    assert_eq!(material_imported(&KeyState::PendingImport), Ok(KeyState::Enabled));
    assert_eq!(material_imported(&KeyState::Disabled), Ok(KeyState::Disabled));
    assert_eq!(material_deleted(&KeyState::Enabled), Ok(KeyState::PendingImport));
    assert_eq!(material_deleted(&KeyState::PendingImport), Ok(KeyState::PendingImport));
    assert!(material_imported(&PENDING).is_err());
}

#[test]
fn deletion_falls_due_at_the_deletion_date() {
    let state = schedule_deletion(&KeyState::Disabled, Api::Aws, Some(7), NOW).unwrap();
    assert!(!state.deletion_due(NOW));
    assert!(!state.deletion_due(NOW + 7 * DAY_MS - 1));
    assert!(state.deletion_due(NOW + 7 * DAY_MS));
    assert!(!KeyState::Disabled.deletion_due(i64::MAX));
}

#[test]
fn rotation_periods_follow_each_api() {
    // AWS RotationPeriodInDays: 90–2560, default 365.
    assert_eq!(rotation_period(Api::Aws, None), Ok(365));
    for (days, ok) in [(89, false), (90, true), (2560, true), (2561, false)] {
        assert_eq!(rotation_period(Api::Aws, Some(days)).is_ok(), ok, "AWS {days}");
    }
    // Tencent RotateDays: 7–365, default 365.
    assert_eq!(rotation_period(Api::Tencent, None), Ok(365));
    for (days, ok) in [(6, false), (7, true), (365, true), (366, false)] {
        assert_eq!(rotation_period(Api::Tencent, Some(days)).is_ok(), ok, "Tencent {days}");
    }
    let err = rotation_period(Api::Aws, Some(30)).unwrap_err();
    assert_eq!(err.to_string(), "the rotation period must be between 90 and 2560 days");
    assert_eq!(next_rotation_ms(NOW, 90), NOW + 90 * DAY_MS);
}

#[test]
fn only_generated_symmetric_default_keys_rotate() {
    // EnableKeyRotation: "You cannot enable automatic rotation of asymmetric
    // KMS keys, HMAC KMS keys, KMS keys with imported key material".
    assert_eq!(check_rotatable(KeySpec::SymmetricDefault, Origin::Kms), Ok(()));
    let err = check_rotatable(KeySpec::SymmetricDefault, Origin::External).unwrap_err();
    assert_eq!(err.tc_code(), "UnsupportedOperation.ExternalCmkCanNotRotate");
    for spec in KeySpec::ALL.iter().copied().filter(|s| *s != KeySpec::SymmetricDefault) {
        let err = check_rotatable(spec, Origin::Kms).unwrap_err();
        assert_eq!(err, StateError::RotationNotSupported { spec });
        assert_eq!(err.aws_type(), "UnsupportedOperationException");
    }
}

#[test]
fn state_names_follow_each_api() {
    assert_eq!(PENDING.aws_name(), Some("PendingDeletion"));
    assert_eq!(PENDING.tc_name(), "PendingDelete");
    assert_eq!(KeyState::Archived.aws_name(), None);
    assert_eq!(KeyState::Archived.tc_name(), "Archived");
}

#[test]
fn imported_material_expires_in_the_future_and_within_each_apis_limit() {
    let now = 1_700_000_000_000;
    for api in [Api::Aws, Api::Tencent] {
        assert_eq!(check_material_expiry(api, now, now), Err(StateError::InvalidMaterialExpiry { api }), "not now");
        assert!(check_material_expiry(api, now - 1, now).is_err(), "not in the past");
        assert_eq!(check_material_expiry(api, now + 1, now), Ok(()));
    }
    let year = 365 * DAY_MS;
    assert_eq!(check_material_expiry(Api::Aws, now + year, now), Ok(()));
    assert!(check_material_expiry(Api::Aws, now + year + 1, now).is_err(), "AWS: at most 365 days ahead");
    assert_eq!(check_material_expiry(Api::Tencent, 2_147_443_200_000, now), Ok(()), "Tencent's latest ValidTo");
    assert!(check_material_expiry(Api::Tencent, 2_147_443_200_001, now).is_err());
    assert_eq!(StateError::InvalidMaterialExpiry { api: Api::Aws }.aws_type(), "ValidationException");

    assert!(!material_expired(None, now), "material without expiry never expires");
    assert!(!material_expired(Some(now + 1), now));
    assert!(material_expired(Some(now), now), "gone from the instant of its expiry");
}
