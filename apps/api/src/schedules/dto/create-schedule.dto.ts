import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDefined, IsObject, IsOptional, IsString, Matches, registerDecorator, ValidateNested, MaxLength } from 'class-validator';
import { NAME_PATTERN, NAME_RULE } from '../../common/validators.js';
import { SubmitJobDto } from '../../jobs/dto/submit-job.dto.js';
import { cronProblem, isTimeZone } from '../cron.js';

/** A cron expression BullMQ's job schedulers accept; the message says which rule it breaks. */
function IsCron() {
  return (target: object, propertyName: string) => {
    let lastError = '';
    registerDecorator({
      name: 'isCron',
      target: target.constructor,
      propertyName,
      validator: {
        validate(value: unknown) {
          lastError = typeof value === 'string' ? (cronProblem(value) ?? '') : `${propertyName} must be a string`;
          return lastError === '';
        },
        defaultMessage: () => lastError,
      },
    });
  };
}

function IsIanaTimeZone() {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isIanaTimeZone',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && value.length <= 64 && isTimeZone(value),
        defaultMessage: (args) => `${propertyName} ${JSON.stringify(args?.value)} is not an IANA time zone (e.g. UTC, Europe/Paris, America/New_York)`,
      },
    });
}

/** POST /api/v1/schedules: a cron expression, its time zone, and the submit body each firing sends. */
export class CreateScheduleDto {
  @ApiProperty({ example: 'nightly-eval' })
  @IsString()
  @Matches(NAME_PATTERN, { message: `name ${NAME_RULE}` })
  name!: string;

  @ApiProperty({
    example: '0 2 * * *',
    description: '5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first',
  })
  @MaxLength(256)
  @IsCron()
  cron!: string;

  @ApiPropertyOptional({ example: 'Europe/Paris', default: 'UTC', description: 'IANA time zone the cron fields are read in' })
  @IsOptional()
  @IsIanaTimeZone()
  timezone?: string;

  @ApiProperty({
    type: SubmitJobDto,
    description: 'The body of POST /api/v1/jobs, with its rules, but no clientToken: each firing sets its own, and adds the tag gpubatch:schedule=<name>.',
  })
  @IsDefined({ message: 'submit is required' })
  @IsObject({ message: 'submit must be an object (a POST /api/v1/jobs body)' })
  // Nested messages are prefixed with "submit." by the validation pipe.
  @ValidateNested()
  @Type(() => SubmitJobDto)
  submit!: SubmitJobDto;
}
